#!/usr/bin/env python3
"""An auditor's own check of an Accession inclusion proof, written from the README alone.

    python3 tests/check_proof.py PROOF.json CHECKPOINT.json PUBLIC_KEY_FILE

Exit 0 and "OK" when the checkpoint's Ed25519 signature is valid for the key and the proof leads
from the history row to the checkpoint's root; exit 1 naming what failed otherwise. A proof of
format v2 carries the row itself: its canonical encoding (form 1, the recording time only, or
form 2, both times) is rebuilt from the row's fields and must hash to the proof's row_hash; "OK"
then names both times. Uses only the standard library: hashlib for SHA-256/SHA-512, json for the
encoding, and the Ed25519 verification of RFC 8032 §6.
"""

import datetime
import hashlib
import json
import sys

# --- Ed25519 verification, RFC 8032 section 6 (reference code) ----------------------------------

p = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p - 2, p) % p
modp_sqrt_m1 = pow(2, (p - 1) // 4, p)


def point_add(P, Q):
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def point_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = point_add(Q, P)
        P = point_add(P, P)
        s >>= 1
    return Q


def point_equal(P, Q):
    if (P[0] * Q[2] - Q[0] * P[2]) % p != 0:
        return False
    return (P[1] * Q[2] - Q[1] * P[2]) % p == 0


def recover_x(y, sign):
    if y >= p:
        return None
    x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * modp_sqrt_m1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


g_y = 4 * pow(5, p - 2, p) % p
g_x = recover_x(g_y, 0)
G = (g_x, g_y, 1, g_x * g_y % p)


def point_decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % p)


def sha512_modq(s):
    return int.from_bytes(hashlib.sha512(s).digest(), "little") % L


def verify(public, msg, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    A = point_decompress(public)
    if not A:
        return False
    R = point_decompress(signature[:32])
    if not R:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = sha512_modq(signature[:32] + public + msg)
    return point_equal(point_mul(s, G), point_add(R, point_mul(h, A)))


# --- The log (README: "Checkpoints and proofs") -------------------------------------------------


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf(position, row_hash):
    return hashlib.sha256(b"\x00" + position.to_bytes(8, "big") + row_hash).digest()


def inclusion_root(index, size, leaf_hash, path):
    """RFC 9162 section 2.1.3.2; None when the path does not fit the index and size."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p_ in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p_, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p_)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def utc_micros(text):
    """An RFC 3339 time as the encoding writes it: UTC, six fraction digits, `Z`."""
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_encoding(row):
    """README, "Checkpoints and proofs": the row's fields in a fixed order, as compact JSON."""
    form = row.get("hash_form", 1)
    at = utc_micros(row["at"])
    actor = [row["actor_institution"], row["actor_name"], row["actor_role"]]
    rest = [row["command"], row["from_stage"], row["to_stage"], row["comment"], row["payload"]]
    if form in (1, 2) and row.get("actor_account") is not None:
        return None, f"the row is of hash form {form}, whose hash does not cover an account"
    if form == 1:
        if row.get("effective_on") or row.get("effective_approximate") or row.get("retrospective"):
            return None, "the row is of hash form 1, whose hash does not cover an effective time"
        fields = ["accession-history-v1", row["procedure_id"], row["sequence"], at]
    elif form == 2:
        times = [row["effective_on"], row["effective_approximate"], row["retrospective"]]
        fields = ["accession-history-v2", row["procedure_id"], row["sequence"], at] + times
    elif form == 3:
        times = [row["effective_on"], row["effective_approximate"], row["retrospective"]]
        fields = ["accession-history-v3", row["procedure_id"], row["sequence"], at] + times
        actor = actor + [row.get("actor_account")]
    else:
        return None, f"the row names hash form {form}, which this checker does not know"
    fields += actor + rest + [row["prev_hash"]]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")), None


def check_row(proof):
    """The v2 proof's row is the one named and hashes to row_hash; returns (what, problem)."""
    row = proof.get("row")
    if row is None:
        return None, "a v2 proof carries its row"
    if row["procedure_id"] != proof["procedure"] or row["sequence"] != proof["sequence"]:
        return None, "the proof's row is not the row it names"
    encoding, problem = canonical_encoding(row)
    if problem:
        return None, problem
    if hashlib.sha256(encoding.encode("utf-8")).hexdigest() != proof["row_hash"]:
        return None, "the row's fields do not hash to the proof's row_hash: the row was altered"
    if row.get("effective_on") is None:
        took = "as recorded"
    elif row.get("effective_approximate"):
        took = f"on or before {row['effective_on']} (day not known)"
    else:
        took = f"on {row['effective_on']}"
    what = f"recorded {row['at']}, took effect {took}"
    if row.get("retrospective"):
        what += ", retrospective"
    return what, None


def main(proof_file, checkpoint_file, key_file):
    proof = json.load(open(proof_file))
    cp = json.load(open(checkpoint_file))
    public = bytes.fromhex(open(key_file).read().strip())
    key_id = hashlib.sha256(public).hexdigest()[:16]
    if cp["key_id"] != key_id:
        return f"the checkpoint names key {cp['key_id']}, the key file is {key_id}", None
    text = (
        f"accession checkpoint v1\nsize {cp['size']}\nroot {cp['root']}\n"
        f"time {cp['time']}\nkey {cp['key_id']}\n"
    )
    if not verify(public, text.encode(), bytes.fromhex(cp["signature"])):
        return "the checkpoint's signature is not valid", None
    if proof["size"] != cp["size"]:
        return "the proof is for another size than the checkpoint", None
    what = None
    if proof["format"] == "accession inclusion proof v2":
        what, problem = check_row(proof)
        if problem:
            return problem, None
    elif proof["format"] != "accession inclusion proof v1":
        return f"the proof's format `{proof['format']}` is not known", None
    lh = leaf(proof["position"], bytes.fromhex(proof["row_hash"]))
    path = [bytes.fromhex(h) for h in proof["path"]]
    root = inclusion_root(proof["position"], proof["size"], lh, path)
    if root is None or root.hex() != cp["root"]:
        return "the proof does not lead to the checkpoint's root", None
    return None, what


if __name__ == "__main__":
    problem, what = main(*sys.argv[1:4])
    if problem:
        print("BROKEN:", problem)
        sys.exit(1)
    print(f"OK: {what}" if what else "OK")

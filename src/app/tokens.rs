//! API tokens: created with 256 random bits and shown once, kept only as their SHA-256, and
//! turned back into an `Actor` when presented. Tokens and their hashes are never logged.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Accession, AppError};
use crate::engine::{Actor, Permission, Role};
use crate::ids::InstitutionId;
use crate::store::TokenRow;

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "acc_";

/// Random bytes in a token's secret: 256 bits.
const SECRET_BYTES: usize = 32;

/// `acc_` and the secret in hex.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 2 * SECRET_BYTES;

/// How many leading characters of a token are kept to tell tokens apart in lists.
const SHOWN_CHARS: usize = 12;

const NAME_MAX_CHARS: usize = 200;

/// `last_used_at` is a hint for people, not an audit trail: one write a minute per token at most,
/// so authenticating stays a read.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// A token just created: the only time its secret is known.
#[derive(Clone, Serialize)]
pub struct NewToken {
    /// The bearer token; shown once, kept nowhere.
    pub token: String,
    pub row: TokenRow,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &"<redacted>")
            .field("row", &self.row)
            .finish()
    }
}

/// Hex SHA-256 of a token: what the database keeps and looks tokens up by.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The leading characters of a token shown in lists; not enough to matter if seen.
pub fn token_prefix(token: &str) -> &str {
    token.get(..SHOWN_CHARS).unwrap_or(token)
}

/// A fresh token from the operating system's random generator.
pub(super) fn new_token() -> Result<String, AppError> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)
        .map_err(|e| AppError::Io(format!("cannot draw random bytes for a token: {e}")))?;
    Ok(token_from_secret(&secret))
}

fn token_from_secret(secret: &[u8; SECRET_BYTES]) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(secret))
}

/// Whether `token` has the shape of one we issue; anything else is refused without a lookup.
fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The name people will know the token by (and history will show as the actor's name). Every
/// mistake in it is `AppError::Invalid`; the API names the field (`name`).
pub(super) fn checked_token_name(name: &str) -> Result<&str, AppError> {
    // Checked before trimming, which would drop a trailing control character unseen.
    crate::text::checked(name, crate::text::Lines::One)
        .map_err(|e| AppError::Invalid(format!("a token's name is not valid: {e}")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::Invalid(
            "a token needs a name: who or what will use it".into(),
        ));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(AppError::Invalid(format!(
            "a token's name is at most {NAME_MAX_CHARS} characters; this one has {}",
            name.chars().count()
        )));
    }
    Ok(name)
}

/// Whether a use at `now` should be written down, given the last one recorded.
fn needs_touch(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|last| now - last >= TOUCH_EVERY)
}

impl Accession {
    /// A new token acting for `institution` in `role`. Its secret is in the result and nowhere
    /// else.
    /// Refused (403) unless `caller` may manage tokens.
    pub async fn create_token(
        &self,
        caller: &Actor,
        institution: &InstitutionId,
        role: Role,
        name: &str,
    ) -> Result<NewToken, AppError> {
        caller.may(Permission::ManageTokens)?;
        let name = checked_token_name(name)?;
        if self.store.institution(institution).await?.is_none() {
            return Err(AppError::NotFound {
                what: "institution",
                id: institution.to_string(),
            });
        }
        // Checked again at every use (`authenticate`): the institution may lose the flag later.
        match self
            .role_held(&Actor::new(institution.clone(), role, name))
            .await
        {
            Ok(()) => {}
            Err(AppError::Refused(refusal)) => {
                return Err(AppError::InvalidField {
                    field: "role",
                    detail: refusal.to_string(),
                });
            }
            Err(e) => return Err(e),
        }
        let token = new_token()?;
        let row = self
            .store
            .insert_token(
                &token_hash(&token),
                token_prefix(&token),
                institution,
                role,
                name,
                self.now(),
            )
            .await?;
        tracing::info!(token = row.id, %institution, %role, "API token created");
        Ok(NewToken { token, row })
    }

    /// The token presented and who it acts as; None when it is unknown or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<(TokenRow, Actor)>, AppError> {
        if !well_formed(token) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let Some((stored, mut row)) = self.store.token_entry(&hash).await? else {
            return Ok(None);
        };
        // The lookup already matched the hash; compare again in constant time so no
        // database collation or index quirk can let a different token in.
        if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) || row.revoked() {
            return Ok(None);
        }
        let now = self.now();
        if needs_touch(row.last_used_at, now) {
            // A hint for people: a database that refuses writes (a full disk) must not turn
            // every read into a failure.
            match self.store.touch_token(row.id, now).await {
                Ok(()) => row.last_used_at = Some(now),
                Err(e) => {
                    tracing::warn!(token = row.id, error = %e, "could not note a token's use")
                }
            }
        }
        // A person's token acts as the person, and stops with their account.
        let actor = match self.account_actor(&row).await? {
            Some(Some(person)) => person,
            Some(None) => Actor::new(row.institution.clone(), row.role, row.name.clone()),
            None => return Ok(None),
        };
        self.role_held(&actor).await?;
        Ok(Some((row, actor)))
    }

    /// Every token, oldest first; secrets are not kept, so none is shown. Refused (403) unless
    /// the caller may manage tokens.
    pub async fn tokens(&self, caller: &Actor) -> Result<Vec<TokenRow>, AppError> {
        caller.may(Permission::ManageTokens)?;
        Ok(self.store.tokens().await?)
    }

    /// The caller's own token, `token_id` being the one its credentials (a token, a session)
    /// stand for, never an id from the request: any role may read its own (its feed key's date).
    pub async fn own_token(&self, token_id: i64) -> Result<Option<TokenRow>, AppError> {
        Ok(self.store.token(token_id).await?)
    }

    /// Stop a token from working. Revoking a revoked token changes nothing. Refused (403)
    /// unless `caller` may manage tokens.
    pub async fn revoke_token(&self, caller: &Actor, id: i64) -> Result<TokenRow, AppError> {
        caller.may(Permission::ManageTokens)?;
        let row = self
            .store
            .revoke_token(id, self.now())
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "token",
                id: id.to_string(),
            })?;
        tracing::info!(token = row.id, institution = %row.institution, "API token revoked");
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> TokenRow {
        TokenRow {
            id: 7,
            prefix: "acc_0123".into(),
            institution: InstitutionId::parse("mfa").unwrap(),
            role: Role::Ministry,
            name: "Treaty registry".into(),
            created_at: DateTime::UNIX_EPOCH,
            revoked_at: None,
            last_used_at: None,
            feed_key_created_at: None,
            account_id: None,
            for_pages: false,
        }
    }

    #[test]
    fn a_token_is_acc_and_64_lowercase_hex_digits() {
        let token = new_token().unwrap();
        assert_eq!(token.len(), 68);
        assert_eq!(TOKEN_LEN, 68);
        let secret = token.strip_prefix("acc_").expect("starts with acc_");
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{token}"
        );
        assert!(well_formed(&token));
    }

    #[test]
    fn the_secret_is_the_random_bytes_in_hex() {
        let mut secret = [0u8; SECRET_BYTES];
        secret[0] = 0xab;
        secret[31] = 0x01;
        let token = token_from_secret(&secret);
        assert!(token.starts_with("acc_ab00"), "{token}");
        assert!(token.ends_with("0001"), "{token}");
    }

    #[test]
    fn two_tokens_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        // Not just a counter: the secrets differ in many places.
        let same = a.bytes().zip(b.bytes()).filter(|(x, y)| x == y).count();
        assert!(same < 40, "{a} and {b} share {same} characters");
    }

    #[test]
    fn the_hash_is_the_hex_sha256_of_the_token() {
        // sha256("abc"), from FIPS 180-2.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let token = new_token().unwrap();
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 64);
        assert_eq!(
            hex::decode(&hash).unwrap(),
            Sha256::digest(token.as_bytes()).to_vec()
        );
        assert!(!hash.contains(&token[4..]));
    }

    #[test]
    fn the_prefix_is_the_first_twelve_characters() {
        // `acc_` and 8 hex digits (32 bits): enough to tell tokens apart in a list.
        let token = token_from_secret(&[0x5a; SECRET_BYTES]);
        assert_eq!(token_prefix(&token), "acc_5a5a5a5a");
        assert_eq!(token_prefix("short"), "short");
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        let good = token_from_secret(&[7; SECRET_BYTES]);
        assert!(well_formed(&good));
        assert!(!well_formed(""));
        assert!(!well_formed(&good[..67]));
        assert!(!well_formed(&format!("{good}0")));
        assert!(!well_formed(&good.to_uppercase()));
        assert!(!well_formed(&good.replacen("acc_", "abc_", 1)));
        assert!(!well_formed(&format!("acc_{}", "g".repeat(64))));
        // Multi-byte text of the right length must not panic on slicing.
        assert!(!well_formed(&format!("acc_{}", "é".repeat(32))));
    }

    #[test]
    fn names_are_trimmed_one_line_and_at_most_200_characters() {
        assert_eq!(checked_token_name("  CI deploy  ").unwrap(), "CI deploy");
        assert!(matches!(
            checked_token_name("   "),
            Err(AppError::Invalid(_))
        ));
        assert!(checked_token_name(&"я".repeat(200)).is_ok());
        let long = checked_token_name(&"я".repeat(201))
            .unwrap_err()
            .to_string();
        assert!(long.contains("201"), "{long}");
        assert!(matches!(
            checked_token_name("two\nlines"),
            Err(AppError::Invalid(_))
        ));
    }

    #[test]
    fn use_is_recorded_at_most_once_a_minute() {
        let t = DateTime::UNIX_EPOCH;
        assert!(needs_touch(None, t));
        assert!(!needs_touch(Some(t), t + TimeDelta::seconds(59)));
        assert!(needs_touch(Some(t), t + TimeDelta::seconds(60)));
    }

    #[test]
    fn debug_of_a_new_token_hides_the_secret() {
        let token = token_from_secret(&[0x3c; SECRET_BYTES]);
        let new = NewToken {
            token: token.clone(),
            row: row(),
        };
        let shown = format!("{new:?} {new:#?}");
        assert!(!shown.contains(&token[4..]), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        assert!(shown.contains("Treaty registry"), "{shown}");
    }
}

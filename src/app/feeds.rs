//! Calendar feed keys: each token may have one, a random 256-bit secret of its own that opens the
//! iCalendar feed of the token's institution. Only its SHA-256 is kept, so the address is shown
//! once, when the key is made; making a new one stops the old at once, and revoking the token
//! stops its feed. Keys are never logged.

use std::fmt;

use serde::Serialize;
use subtle::ConstantTimeEq;

use super::sessions::random_secret;
use super::tokens::token_hash;
use super::{Accession, AppError};
use crate::engine::{Actor, Permission};
use crate::ids::InstitutionId;
use crate::store::TokenRow;

/// A feed key just made: the only time its address is known.
#[derive(Clone, Serialize)]
pub struct NewFeedKey {
    /// The feed's address, key included: shown once, kept nowhere.
    pub url: String,
    pub token: TokenRow,
}

impl fmt::Debug for NewFeedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewFeedKey")
            .field("url", &"<redacted>")
            .field("token", &self.token)
            .finish()
    }
}

/// Whether `key` has the shape of one we make (64 lowercase hex digits); anything else is refused
/// without a lookup.
fn well_formed(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Accession {
    /// A new calendar feed key for token `id`, as `caller`; the previous one, if any, stops
    /// working now. Any caller may renew its own token's (`own` is the id of the token its
    /// credentials stand for, never an id from the request; the CLI's operator has none);
    /// another token's only a caller who may manage tokens (403 otherwise).
    pub async fn renew_feed_key(
        &self,
        caller: &Actor,
        own: Option<i64>,
        id: i64,
    ) -> Result<NewFeedKey, AppError> {
        if own != Some(id) {
            caller.may(Permission::ManageTokens)?;
        }
        let key = random_secret()?;
        let token = self
            .store
            .set_feed_key(id, &token_hash(&key), self.now())
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "token",
                id: id.to_string(),
            })?;
        if token.revoked() {
            // The token's state, not the request, is what is wrong: 409, exit 1.
            return Err(AppError::Refused(crate::engine::Refusal::NotApplicable(
                format!(
                    "token {id} is revoked: it has no calendar feed; create a new token for one"
                ),
            )));
        }
        tracing::info!(token = token.id, institution = %token.institution, "calendar feed key made");
        Ok(NewFeedKey {
            url: self.feed_url(&token.institution, &key),
            token,
        })
    }

    /// The address of `institution`'s feed opened by `key`.
    fn feed_url(&self, institution: &InstitutionId, key: &str) -> String {
        format!(
            "{}/calendar/{institution}.ics?key={key}",
            self.settings.mail.base_url.trim_end_matches('/')
        )
    }

    /// The token whose feed key `key` is, if it is live and of `institution`; None otherwise
    /// (unknown, renewed since, revoked, or another institution's).
    pub async fn feed_reader(
        &self,
        institution: &InstitutionId,
        key: &str,
    ) -> Result<Option<TokenRow>, AppError> {
        if !well_formed(key) {
            return Ok(None);
        }
        let hash = token_hash(key);
        let Some((stored, token)) = self.store.feed_key_entry(&hash).await? else {
            return Ok(None);
        };
        // The lookup matched the hash already; compare again in constant time so that no
        // collation or index quirk lets another key in.
        let same = bool::from(stored.as_bytes().ct_eq(hash.as_bytes()));
        Ok((same && !token.revoked() && &token.institution == institution).then_some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_of_our_shape_are_looked_up() {
        let key = random_secret().unwrap();
        assert!(well_formed(&key));
        assert!(!well_formed(&key.to_uppercase()));
        assert!(!well_formed(&key[..63]));
        assert!(!well_formed(&format!("{key}0")));
        assert!(!well_formed(&"é".repeat(32)));
    }

    #[test]
    fn debug_of_a_new_feed_key_hides_its_address() {
        let new = NewFeedKey {
            url: "https://x.example/calendar/moj.ics?key=5ec7e7".into(),
            token: TokenRow {
                id: 1,
                prefix: "acc_0123".into(),
                institution: InstitutionId::parse("moj").unwrap(),
                role: crate::engine::Role::Ministry,
                name: "Registry".into(),
                created_at: chrono::DateTime::UNIX_EPOCH,
                revoked_at: None,
                last_used_at: None,
                feed_key_created_at: None,
            },
        };
        let shown = format!("{new:?} {new:#?}");
        assert!(!shown.contains("5ec7e7"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}

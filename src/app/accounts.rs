//! People, not shared tokens: officials' accounts (made by an admin), the one-time sign-in links
//! mailed to them through the outbox, and the tokens that belong to them.
//!
//! A sign-in link carries 256 random bits; the database keeps only their SHA-256
//! (`sign_in_links.link_hash`). The email that carries the link is an outbox row written in the
//! same transaction; since the outbox is in the database too, its facts hold the secret sealed
//! with a key this process drew at start and keeps in memory only (XOR with SHA-256 of the key
//! and the link's id, a one-time pad per link), so the dispatcher of this service can write the
//! link into the email and nobody reading the database can. A link queued by a process that has
//! since stopped cannot be mailed (the row dies saying so): the person asks for another.
//!
//! Asking for a link answers the same whether or not the address has an account; a link works
//! once, for `server.sign_in_link_minutes`, and only by a POST (the confirmation page's form), so
//! a mail scanner that fetches the link does not spend it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::sessions::NewSession;
use super::tokens::{NewToken, token_hash, token_prefix};
use super::{Accession, AppError};
use crate::engine::{Actor, Permission, Role, SignInFacts};
use crate::ids::InstitutionId;
use crate::store::{AccountRow, Disabled, SessionListRow, StoreError, TokenRow};

/// Bytes of a link's secret: 256 bits, 64 hex digits in the link.
const LINK_SECRET_BYTES: usize = 32;

/// How many links one address may be sent in a link's lifetime; asking for more sends nothing
/// (and answers the same), so the sign-in page cannot be used to flood a mailbox.
pub const LINKS_PER_LIFETIME: u64 = 3;

const NAME_MAX_CHARS: usize = 200;
const EMAIL_MAX_CHARS: usize = 254;

/// The key sign-in secrets are sealed with in the outbox: drawn at start, never stored.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

impl LinkKey {
    pub fn random() -> Result<LinkKey, AppError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| AppError::Io(format!("cannot draw random bytes: {e}")))?;
        Ok(LinkKey(key))
    }

    fn pad(&self, link: i64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"accession sign-in link v1\0");
        h.update(self.0);
        h.update(link.to_be_bytes());
        h.finalize().into()
    }

    /// `secret` (64 hex digits) sealed for link `link`, as hex.
    fn seal(&self, link: i64, secret: &[u8; LINK_SECRET_BYTES]) -> String {
        let pad = self.pad(link);
        hex::encode(
            secret
                .iter()
                .zip(pad)
                .map(|(s, p)| s ^ p)
                .collect::<Vec<_>>(),
        )
    }

    /// The secret `sealed` holds for link `link`, as the link's hex; None when it is not a seal
    /// (a seal of another process's key opens to a secret whose hash matches no link).
    fn open(&self, link: i64, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() != LINK_SECRET_BYTES {
            return None;
        }
        let pad = self.pad(link);
        Some(hex::encode(
            bytes
                .iter()
                .zip(pad)
                .map(|(s, p)| s ^ p)
                .collect::<Vec<_>>(),
        ))
    }
}

/// What a one-time link opens to, as the dispatcher needs it to write the email.
#[derive(Debug, Clone)]
pub struct LinkEmail {
    pub account: AccountRow,
    /// The address of the confirmation page, with the secret.
    pub url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A page of rows, and how many there are in all.
#[derive(Debug, Clone, Serialize)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

/// The most rows one page of accounts, tokens or sessions holds.
pub const MAX_LIST: u64 = 200;

/// Hex SHA-256 of a link's secret: what the database keeps.
pub fn link_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` has the shape of a link secret (64 lowercase hex digits).
fn well_formed_link(secret: &str) -> bool {
    secret.len() == 2 * LINK_SECRET_BYTES
        && secret
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A person's name as given: one line, trimmed, not empty, at most 200 characters.
fn checked_name(name: &str) -> Result<String, AppError> {
    crate::text::checked(name, crate::text::Lines::One).map_err(|e| AppError::InvalidField {
        field: "name",
        detail: format!("the name is not valid: {e}"),
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::InvalidField {
            field: "name",
            detail: "an account needs the person's name".into(),
        });
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(AppError::InvalidField {
            field: "name",
            detail: format!(
                "a name is at most {NAME_MAX_CHARS} characters; this one has {}",
                name.chars().count()
            ),
        });
    }
    Ok(name.to_string())
}

/// An email address as kept: trimmed and lower-cased, one `@` with text either side, a dot in
/// the domain, no whitespace or control character, at most 254 characters.
pub fn checked_email(email: &str) -> Result<String, AppError> {
    let invalid = |detail: String| AppError::InvalidField {
        field: "email",
        detail,
    };
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err(invalid("an account needs an email address".into()));
    }
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(invalid(format!(
            "an email address is at most {EMAIL_MAX_CHARS} characters"
        )));
    }
    let shaped = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','))
        }
        None => false,
    };
    if !shaped || email.parse::<lettre::Address>().is_err() {
        return Err(invalid(format!(
            "`{email}` is not an email address (like name@ministry.kg)"
        )));
    }
    Ok(email)
}

fn bounded(offset: u64, limit: u64) -> (u64, u64) {
    (offset, limit.clamp(1, MAX_LIST))
}

impl Accession {
    /// A new account for a person of `institution` in `role`. Refused (403) unless `caller`
    /// may manage accounts; a role the institution may not hold, a bad name or address, or an
    /// address already taken (409) changes nothing.
    pub async fn create_account(
        &self,
        caller: &Actor,
        name: &str,
        email: &str,
        institution: &InstitutionId,
        role: Role,
    ) -> Result<AccountRow, AppError> {
        caller.may(Permission::ManageAccounts)?;
        let name = checked_name(name)?;
        let email = checked_email(email)?;
        if self.store.institution(institution).await?.is_none() {
            return Err(AppError::InvalidField {
                field: "institution",
                detail: format!("institution `{institution}` does not exist"),
            });
        }
        match self
            .role_held(&Actor::new(institution.clone(), role, &name))
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
        let row = match self
            .store
            .insert_account(&name, &email, institution, role, self.now())
            .await
        {
            Ok(row) => row,
            Err(StoreError::AlreadyExists(_)) => {
                return Err(AppError::Conflict(format!(
                    "an account with the address {email} already exists"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(account = row.id, %institution, %role, "account created");
        Ok(row)
    }

    /// One page of accounts, oldest first. Refused (403) unless `caller` may manage accounts.
    pub async fn accounts(
        &self,
        caller: &Actor,
        offset: u64,
        limit: u64,
    ) -> Result<Listed<AccountRow>, AppError> {
        caller.may(Permission::ManageAccounts)?;
        let (offset, limit) = bounded(offset, limit);
        let (items, total) = self.store.accounts_page(offset, limit).await?;
        Ok(Listed {
            items,
            total,
            offset,
            limit,
        })
    }

    /// Account `id`. Refused (403) unless `caller` may manage accounts.
    pub async fn account(&self, caller: &Actor, id: i64) -> Result<AccountRow, AppError> {
        caller.may(Permission::ManageAccounts)?;
        self.store
            .account(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "account",
                id: id.to_string(),
            })
    }

    /// Disable account `id`: its sessions end and its tokens stop working at once, and no link
    /// is sent to it any more. Refused (403) unless `caller` may manage accounts.
    pub async fn disable_account(&self, caller: &Actor, id: i64) -> Result<Disabled, AppError> {
        caller.may(Permission::ManageAccounts)?;
        let disabled = self
            .store
            .disable_account(id, self.now())
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "account",
                id: id.to_string(),
            })?;
        tracing::info!(
            account = id,
            tokens = disabled.tokens_revoked,
            sessions = disabled.sessions_ended,
            "account disabled"
        );
        Ok(disabled)
    }

    /// A new API token belonging to account `account`, acting as that person. An admin may make
    /// one for anybody; anyone signed in as a person may make one for themselves. Refused
    /// otherwise (403), and for a disabled account.
    pub async fn create_account_token(
        &self,
        caller: &Actor,
        account: i64,
        name: &str,
    ) -> Result<NewToken, AppError> {
        if caller.account != Some(account) {
            caller.may(Permission::ManageAccounts)?;
        }
        let Some(row) = self.store.account(account).await? else {
            return Err(AppError::NotFound {
                what: "account",
                id: account.to_string(),
            });
        };
        if row.disabled() {
            return Err(AppError::Conflict(format!(
                "account {account} ({}) is disabled; it can have no new token",
                row.email
            )));
        }
        self.create_token_of(&row, name).await
    }

    /// One page of tokens, oldest first (secrets are not kept, so none is shown). Refused (403)
    /// unless `caller` may manage tokens.
    pub async fn tokens_page(
        &self,
        caller: &Actor,
        offset: u64,
        limit: u64,
    ) -> Result<Listed<TokenRow>, AppError> {
        caller.may(Permission::ManageTokens)?;
        let (offset, limit) = bounded(offset, limit);
        let (items, total) = self.store.tokens_page(offset, limit).await?;
        Ok(Listed {
            items,
            total,
            offset,
            limit,
        })
    }

    /// One page of live page sessions, newest first. Refused (403) unless `caller` may manage
    /// accounts.
    pub async fn sessions(
        &self,
        caller: &Actor,
        offset: u64,
        limit: u64,
    ) -> Result<Listed<SessionListRow>, AppError> {
        caller.may(Permission::ManageAccounts)?;
        let (offset, limit) = bounded(offset, limit);
        let (items, total) = self.store.sessions_page(self.now(), offset, limit).await?;
        Ok(Listed {
            items,
            total,
            offset,
            limit,
        })
    }

    /// End page session `id` (its browser is signed out at its next request). Refused (403)
    /// unless `caller` may manage accounts.
    pub async fn end_session(&self, caller: &Actor, id: i64) -> Result<(), AppError> {
        caller.may(Permission::ManageAccounts)?;
        if !self.store.end_session(id).await? {
            return Err(AppError::NotFound {
                what: "session",
                id: id.to_string(),
            });
        }
        tracing::info!(session = id, "session ended by an admin");
        Ok(())
    }

    /// Mail a one-time sign-in link to `email` if it is an enabled account's, through the
    /// outbox. Answers nothing either way (the page says the same whether or not there is an
    /// account); an address that was sent `LINKS_PER_LIFETIME` links within a link's lifetime
    /// is sent no more for now. A malformed address is `Invalid`.
    pub async fn request_sign_in_link(&self, email: &str) -> Result<(), AppError> {
        let email = checked_email(email)?;
        let Some(account) = self.store.account_by_email(&email).await? else {
            tracing::info!("a sign-in link was asked for an address with no account");
            return Ok(());
        };
        if account.disabled() {
            tracing::info!(
                account = account.id,
                "a sign-in link was asked for a disabled account"
            );
            return Ok(());
        }
        let now = self.now();
        let lifetime = self.settings.server.sign_in_link_lifetime();
        if self.store.links_since(account.id, now - lifetime).await? >= LINKS_PER_LIFETIME {
            tracing::info!(
                account = account.id,
                "sign-in links: too many asked for; none sent"
            );
            return Ok(());
        }
        let mut secret = [0u8; LINK_SECRET_BYTES];
        getrandom::fill(&mut secret)
            .map_err(|e| AppError::Io(format!("cannot draw random bytes for a link: {e}")))?;
        let hash = link_hash(&hex::encode(secret));
        let expires_at = now + lifetime;
        let key = self.link_key.clone();
        let account_id = account.id;
        let queued = self
            .store
            .insert_sign_in_link(&hash, &account, now, expires_at, |link| SignInFacts {
                account: account_id,
                link,
                sealed: key.seal(link, &secret),
                expires_at,
            })
            .await?;
        tracing::info!(
            account = account.id,
            link = queued.link_id,
            outbox = queued.outbox_id,
            "sign-in link queued"
        );
        Ok(())
    }

    /// What the email of a sign-in link says, from its outbox facts: None when it should not be
    /// sent any more (used, expired, the account disabled or gone); an error when this process
    /// cannot open the seal (another process queued it).
    pub async fn sign_in_link_email(
        &self,
        facts: &SignInFacts,
    ) -> Result<Result<LinkEmail, String>, AppError> {
        let now = self.now();
        let Some(account) = self.store.account(facts.account).await? else {
            return Ok(Err(format!("account {} does not exist", facts.account)));
        };
        if account.disabled() {
            return Ok(Err(format!("account {} is disabled", account.id)));
        }
        let Some(stored) = self.store.sign_in_link_pending(facts.link, now).await? else {
            return Ok(Err(format!(
                "sign-in link {} was used or has expired",
                facts.link
            )));
        };
        // A seal of another process's key opens to bytes whose hash is not the link's.
        let opened = self.link_key.open(facts.link, &facts.sealed);
        let Some(secret) = opened.filter(|s| link_hash(s) == stored) else {
            return Ok(Err(
                "the sign-in link was queued by another run of the service, whose key is gone; \
                 the person must ask for a new link"
                    .into(),
            ));
        };
        let base = self.settings.mail.base_url.trim_end_matches('/');
        Ok(Ok(LinkEmail {
            account,
            url: format!("{base}/sign-in/link?key={secret}"),
            expires_at: facts.expires_at,
        }))
    }

    /// Whether `secret` is a link that would sign someone in now (the confirmation page asks;
    /// nothing is spent).
    pub async fn sign_in_link_live(&self, secret: &str) -> Result<bool, AppError> {
        if !well_formed_link(secret) {
            return Ok(false);
        }
        Ok(self
            .store
            .sign_in_link_live(&link_hash(secret), self.now())
            .await?)
    }

    /// Spend the link `secret` and sign its person in: a new page session, in their
    /// institution's language. None when the link is unknown, used, expired, or its account
    /// disabled (the link is spent all the same).
    pub async fn sign_in_with_link(&self, secret: &str) -> Result<Option<NewSession>, AppError> {
        if !well_formed_link(secret) {
            return Ok(None);
        }
        let Some(account_id) = self
            .store
            .consume_sign_in_link(&link_hash(secret), self.now())
            .await?
        else {
            return Ok(None);
        };
        let Some(account) = self.store.account(account_id).await? else {
            return Ok(None);
        };
        if account.disabled() {
            return Ok(None);
        }
        let actor = Actor::new(account.institution.clone(), account.role, &account.name)
            .of_account(account.id);
        match self.role_held(&actor).await {
            Ok(()) => {}
            Err(AppError::Refused(refusal)) => {
                tracing::info!(account = account.id, %refusal, "sign-in by link refused");
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        // The token the person's sessions stand for: its secret is drawn and dropped here, so
        // it can never be presented; disabling the account revokes it and ends the sessions.
        let unknowable = super::random_secret()?;
        let token = self
            .store
            .pages_token(
                &account,
                &token_hash(&unknowable),
                token_prefix("pages"),
                self.now(),
            )
            .await?;
        tracing::info!(account = account.id, "signed in by link");
        self.open_session(&token, &actor).await.map(Some)
    }

    /// The person `token` belongs to, as an actor, when it belongs to an enabled account:
    /// Some(None) for a shared token, None when its account is disabled or gone.
    pub(super) async fn account_actor(
        &self,
        token: &TokenRow,
    ) -> Result<Option<Option<Actor>>, AppError> {
        let Some(id) = token.account_id else {
            return Ok(Some(None));
        };
        match self.store.account(id).await? {
            Some(a) if !a.disabled() => Ok(Some(Some(
                Actor::new(a.institution.clone(), a.role, a.name.clone()).of_account(a.id),
            ))),
            _ => Ok(None),
        }
    }

    /// A token for `account` (acting as the person), its secret shown once.
    async fn create_token_of(
        &self,
        account: &AccountRow,
        name: &str,
    ) -> Result<NewToken, AppError> {
        let label = super::tokens::checked_token_name(name)?;
        let token = super::tokens::new_token()?;
        let row = self
            .store
            .insert_token_of(
                &token_hash(&token),
                token_prefix(&token),
                &account.institution,
                account.role,
                label,
                self.now(),
                Some(account.id),
                false,
            )
            .await?;
        tracing::info!(
            token = row.id,
            account = account.id,
            "API token created for an account"
        );
        Ok(NewToken { token, row })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_opens_with_its_key_and_link_only() {
        let key = LinkKey([7; 32]);
        let secret = [0xab; LINK_SECRET_BYTES];
        let sealed = key.seal(5, &secret);
        assert!(!sealed.contains(&hex::encode(secret)));
        assert_eq!(key.open(5, &sealed).unwrap(), hex::encode(secret));
        assert_ne!(key.open(6, &sealed).unwrap(), hex::encode(secret));
        assert_ne!(
            LinkKey([8; 32]).open(5, &sealed).unwrap(),
            hex::encode(secret)
        );
        assert_eq!(key.open(5, "zz"), None);
        assert_eq!(key.open(5, "00"), None);
    }

    #[test]
    fn addresses_are_lower_cased_and_checked() {
        assert_eq!(
            checked_email("  Aigul.Sydykova@Minjust.GOV.kg ").unwrap(),
            "aigul.sydykova@minjust.gov.kg"
        );
        for bad in [
            "", "no-at", "a@b", "a@@b.kg", "a b@c.kg", "@c.kg", "a@.kg", "a@c.kg.", "<a@c.kg>",
        ] {
            assert!(
                matches!(
                    checked_email(bad),
                    Err(AppError::InvalidField { field: "email", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_are_one_line_and_not_empty() {
        assert_eq!(checked_name(" Aigul Sydykova ").unwrap(), "Aigul Sydykova");
        assert!(checked_name("  ").is_err());
        assert!(checked_name("a\nb").is_err());
        assert!(checked_name(&"я".repeat(201)).is_err());
    }

    #[test]
    fn link_secrets_are_64_lowercase_hex_digits() {
        assert!(well_formed_link(&"a".repeat(64)));
        assert!(!well_formed_link(&"A".repeat(64)));
        assert!(!well_formed_link(&"a".repeat(63)));
        assert!(!well_formed_link(&"é".repeat(32)));
    }
}

//! Signing in to the web pages: an API token is exchanged for a session cookie (random, kept as
//! its SHA-256), with a CSRF secret for the session's forms. The session lasts a working day and
//! ends at once when its token is revoked.

use chrono::TimeDelta;
use subtle::ConstantTimeEq;

use super::tokens::token_hash;
use super::{Accession, AppError};
use crate::engine::Actor;
use crate::reference::Language;
use crate::store::SessionRow;

/// How long a session lasts.
pub const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(12);

/// A new session: the cookie value (shown to the browser once) and what it stands for.
pub struct NewSession {
    pub cookie: String,
    pub csrf: String,
    pub language: Language,
}

/// A live session and who it acts as.
#[derive(Debug, Clone)]
pub struct Session {
    pub row: SessionRow,
    pub actor: Actor,
    pub token_id: i64,
}

impl Session {
    pub fn language(&self) -> Language {
        Language::parse(&self.row.language).unwrap_or(Language::En)
    }

    /// Whether `presented` is this session's CSRF secret (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.row.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// 32 random bytes as hex.
pub fn random_secret() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Io(format!("cannot draw random bytes: {e}")))?;
    Ok(hex::encode(bytes))
}

impl Accession {
    /// A session for the holder of `token`, in the language of its institution (Kyrgyz pages for
    /// Kyrgyz readers, English for French ones); None when the token is unknown or revoked.
    pub async fn sign_in(&self, token: &str) -> Result<Option<NewSession>, AppError> {
        let Some((row, actor)) = self.authenticate(token).await? else {
            return Ok(None);
        };
        self.open_session(&row, &actor).await.map(Some)
    }

    /// A new page session standing for `row`, acting as `actor`.
    pub(super) async fn open_session(
        &self,
        row: &crate::store::TokenRow,
        actor: &Actor,
    ) -> Result<NewSession, AppError> {
        let language = match self.store.institution(&actor.institution).await? {
            Some(i) => crate::locale::catalogue_language(i.language),
            None => Language::En,
        };
        let cookie = random_secret()?;
        let csrf = random_secret()?;
        let now = self.now();
        self.store
            .insert_session(
                &token_hash(&cookie),
                row.id,
                &csrf,
                language.as_str(),
                now,
                now + SESSION_LIFETIME,
            )
            .await?;
        tracing::info!(token = row.id, institution = %actor.institution, "signed in");
        Ok(NewSession {
            cookie,
            csrf,
            language,
        })
    }

    /// The live session of `cookie`; None when unknown, expired, its token revoked, or its role
    /// one the token's institution no longer holds.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, AppError> {
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some((row, token)) = self.store.session(&token_hash(cookie), self.now()).await? else {
            return Ok(None);
        };
        if token.revoked() {
            return Ok(None);
        }
        let actor = match self.account_actor(&token).await? {
            Some(Some(person)) => person,
            Some(None) => Actor::new(token.institution.clone(), token.role, token.name.clone()),
            None => return Ok(None),
        };
        // As for a token presented to the API: a role the institution no longer holds ends the
        // session, and signing in again says why.
        match self.role_held(&actor).await {
            Ok(()) => {}
            Err(AppError::Refused(refusal)) => {
                tracing::info!(token = token.id, %refusal, "session ended");
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        Ok(Some(Session {
            token_id: token.id,
            row,
            actor,
        }))
    }

    /// Show `session`'s pages in `language` from now on.
    pub async fn set_session_language(
        &self,
        session: &Session,
        language: Language,
    ) -> Result<(), AppError> {
        Ok(self
            .store
            .set_session_language(session.row.id, language.as_str())
            .await?)
    }

    pub async fn sign_out(&self, cookie: &str) -> Result<(), AppError> {
        Ok(self.store.delete_session(&token_hash(cookie)).await?)
    }
}

//! Identifiers of the domain, parsed once at the boundary so the core never re-checks them.
//!
//! Every id is a lowercase slug (`mfa`, `ets-112`, `legal-review`, `deposit_date`): letters,
//! digits, `-` and `_`, starting with a letter or digit, at most 64 characters.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a text is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn check_slug(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    let fail = |reason| {
        Err(InvalidId {
            kind,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return fail("it is empty");
    }
    if value.len() > 64 {
        return fail("it is longer than 64 characters");
    }
    let first = value.as_bytes()[0];
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return fail("it must start with a lowercase letter or a digit");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return fail("use only lowercase letters, digits, `-` and `_`");
    }
    Ok(())
}

/// The schema of a slug: what `check_slug` accepts.
fn slug_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some("^[a-z0-9][a-z0-9_-]*$"))
        .min_length(Some(1))
        .max_length(Some(64))
        .into()
}

macro_rules! slug_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        // The document states the rule `parse` checks, so clients (and schemathesis) know it.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                slug_schema()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const KIND: &'static str = $kind;

            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check_slug($kind, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }

        // Ordering, equality and hashing are the inner String's, so maps can be read by `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

slug_id!(
    /// An institution of the State (`mfa`, `moj`, `jogorku-kenesh`, …).
    InstitutionId,
    "institution id"
);
slug_id!(
    /// A stage of a workflow (`legal-review`, `deposit`, …).
    StageId,
    "stage id"
);
slug_id!(
    /// A workflow definition (`coe-accession`, …).
    WorkflowId,
    "workflow id"
);
slug_id!(
    /// A procedure: one State, one convention (`kg-ets-112`).
    ProcedureId,
    "procedure id"
);
slug_id!(
    /// A convention (`ets-112`, `cets-210`, …).
    ConventionId,
    "convention id"
);
slug_id!(
    /// A field recorded on a procedure (`deposit_date`, …).
    FieldName,
    "field name"
);

/// The version of a procedure, for optimistic concurrency: 1 after start, +1 per accepted command.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct Version(pub i64);

impl Version {
    pub const INITIAL: Version = Version(1);

    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A State, by its ISO 3166-1 alpha-2 code (`KG`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct StateCode(String);

impl utoipa::PartialSchema for StateCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^[A-Z]{2}$"))
            .into()
    }
}

impl utoipa::ToSchema for StateCode {}

impl StateCode {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(value))
        } else {
            Err(InvalidId {
                kind: "State code",
                value,
                reason: "use the two capital letters of ISO 3166-1 (for example `KG`)",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for StateCode {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for StateCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_the_seed_ids() {
        for id in ["mfa", "jogorku-kenesh", "ets-112", "deposit_date", "0day"] {
            assert!(InstitutionId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn slugs_refuse_capitals_spaces_and_empty() {
        for id in ["MFA", "foreign affairs", "", "-x", "é"] {
            let err = InstitutionId::parse(id).unwrap_err();
            assert_eq!(err.kind, "institution id");
        }
    }

    #[test]
    fn state_codes_are_two_capitals() {
        assert!(StateCode::parse("KG").is_ok());
        assert!(StateCode::parse("kg").is_err());
        assert!(StateCode::parse("KGZ").is_err());
    }
}

//! The error responses of the OpenAPI document, written by no handler: each operation gets a
//! problem response for every `Failure` its inputs can bring (a token, a path, a query, a header,
//! a body — read from what the operation documents it takes) and for those its handler declares
//! with `failures!`. The statuses come from `Failure::status`, which also builds the problems.

use std::collections::{BTreeMap, BTreeSet};

use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ObjectBuilder, OpenApi, Ref, RefOr, Type};
use utoipa::{Modify, PartialSchema};

use crate::http::Failure;
use crate::http::problem::{CONTENT_TYPE, Problem};

/// Declares `$name`, for a handler's `responses(...)`: the failures the handler meets beyond
/// those its inputs bring (a role it requires, a state it refuses, a value it checks).
macro_rules! failures {
    ($(#[$meta:meta])* $name:ident = [$($failure:ident),* $(,)?]) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::api::responses::problems(&[$($crate::http::Failure::$failure),*])
            }
        }
    };
}
pub(crate) use failures;

/// The problem responses for `failures`, keyed by status.
pub fn problems(failures: &[Failure]) -> BTreeMap<String, RefOr<Response>> {
    failures
        .iter()
        .map(|f| (f.status().as_str().to_string(), RefOr::T(problem(*f))))
        .collect()
}

/// The response for `failure`: a problem, as `application/problem+json`.
fn problem(failure: Failure) -> Response {
    let mut response = ResponseBuilder::new()
        .description(failure.description())
        .content(
            CONTENT_TYPE,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        );
    let text = || ObjectBuilder::new().schema_type(Type::String);
    match failure {
        Failure::Unauthenticated => {
            response = response.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(text())
                    .description(Some("`Bearer realm=\"accession\"`"))
                    .build(),
            );
        }
        Failure::Throttled | Failure::StorageFull => {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds to wait before trying again"))
                    .build(),
            );
        }
        _ => {}
    }
    response.build()
}

/// What an operation's inputs can fail with, whatever its handler does.
pub fn brought_by_inputs(op: &Operation, secured_by_default: bool) -> BTreeSet<Failure> {
    // Every request can meet a fault of the server and the request timeout.
    let mut failures = BTreeSet::from([Failure::Internal, Failure::Unavailable]);
    let secured = match &op.security {
        None => secured_by_default,
        // `security(())` is the empty requirement: anyone may call.
        Some(requirements) => requirements.iter().any(|r| {
            serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        }),
    };
    if secured {
        failures.extend([Failure::Unauthenticated, Failure::Throttled]);
    }
    for parameter in op.parameters.iter().flatten() {
        // A value that does not parse is a 400 wherever it is.
        failures.insert(Failure::Malformed);
        match (
            &parameter.parameter_in,
            parameter.name.to_ascii_lowercase().as_str(),
        ) {
            // What a path names may not exist.
            (ParameterIn::Path, _) => {
                failures.insert(Failure::NotFound);
            }
            (ParameterIn::Header, "if-match") => {
                failures.extend([Failure::PreconditionRequired, Failure::Stale]);
            }
            // The same key for another request.
            (ParameterIn::Header, "idempotency-key") => {
                failures.insert(Failure::Invalid);
            }
            _ => {}
        }
    }
    if op.request_body.is_some() {
        failures.extend([
            Failure::Malformed,
            Failure::TooLarge,
            Failure::UnsupportedMediaType,
            Failure::Invalid,
        ]);
    }
    failures
}

/// Adds every operation's error responses, and the Problem schema they refer to.
pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let secured_by_default = openapi.security.as_ref().is_some_and(|s| !s.is_empty());
        for item in openapi.paths.paths.values_mut() {
            // (operation, whether it writes): a write can find the database's disk full.
            let operations = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.patch, true),
            ];
            for (op, writes) in operations {
                let Some(op) = op else { continue };
                let mut failures = brought_by_inputs(op, secured_by_default);
                if writes {
                    failures.insert(Failure::StorageFull);
                }
                let failures: Vec<Failure> = failures.into_iter().collect();
                let responses = &mut op.responses.responses;
                for (status, response) in problems(&failures) {
                    responses.entry(status).or_insert(response);
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("Problem".to_string(), Problem::schema());
    }
}

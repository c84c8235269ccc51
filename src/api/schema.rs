//! Pieces of the OpenAPI document that are not a handler's: the bearer security scheme, and the
//! 429 every operation that takes a token may answer.

use utoipa::Modify;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Header, ObjectBuilder, OpenApi, Ref, ResponseBuilder, Type};

pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every operation that takes a token may answer 429 with `Retry-After` once the client has spent
/// its budget of failed authentications (`throttle`); the open ones (`security(())`) never do.
pub fn document_throttling(openapi: &mut OpenApi) {
    let open = |security: &Option<Vec<SecurityRequirement>>| {
        security
            .as_ref()
            .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()))
    };
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if open(&operation.security) {
                continue;
            }
            let seconds = Header::new(ObjectBuilder::new().schema_type(Type::Integer));
            let response = ResponseBuilder::new()
                .description(
                    "Too many failed authentications from this client: nothing is checked until \
                     `Retry-After` seconds have passed",
                )
                .header("Retry-After", seconds)
                .content(
                    super::problem::CONTENT_TYPE,
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                )
                .build();
            operation
                .responses
                .responses
                .entry("429".to_string())
                .or_insert(response.into());
        }
    }
}

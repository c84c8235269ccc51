//! The OpenAPI links: from an answer that names a procedure (a start, a show, an act) to what
//! can be done with it next, with its id and its `ETag` as `If-Match`; from a new token to its
//! revocation; from the outbox to its first row. Clients and schemathesis' stateful tests follow them.

use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;

/// The acts on a procedure, by operation id: each takes the procedure's id and its `ETag`.
const ACTS: [&str; 15] = [
    "advance",
    "approve",
    "record",
    "comment",
    "suspend",
    "resume",
    "withdraw",
    "extend_invitation",
    "extend_deadline",
    "raise_objection",
    "withdraw_objection",
    "reserve",
    "renew_reservation",
    "modify_reservation",
    "withdraw_reservation",
];
/// What reads a procedure, by operation id: each takes its id.
const READS: [&str; 5] = ["show", "history", "verify", "timers", "reservations"];

pub struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut OpenApi) {
        // (operation, status of its answer, operations that answer leads to)
        let mut from: Vec<(&str, &str, Vec<&str>)> = vec![
            ("start", "201", READS.iter().chain(&ACTS).copied().collect()),
            ("show", "200", ACTS.to_vec()),
            ("create_token", "201", vec!["revoke_token"]),
            ("outbox", "200", vec!["outbox_row", "outbox_retry"]),
        ];
        for act in ACTS {
            from.push((act, "200", READS.iter().chain(&ACTS).copied().collect()));
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.delete];
            for op in operations.into_iter().flatten() {
                let Some(id) = op.operation_id.as_deref() else {
                    continue;
                };
                let Some((_, status, targets)) = from.iter().find(|(name, ..)| *name == id) else {
                    continue;
                };
                let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else {
                    continue;
                };
                // A list's first row; anything else answers one procedure or token.
                let source = if id == "outbox" {
                    "$response.body#/0/id"
                } else {
                    "$response.body#/id"
                };
                for target in targets {
                    // utoipa 5.5 writes `operation_id` as `operation_id`, which no reader knows as
                    // the OpenAPI `operationId`: spell it through the (unprefixed) extensions,
                    // which serialise flat beside the link's other fields.
                    let mut link = LinkBuilder::new()
                        .extensions(Some(Extensions::from_iter([("operationId", *target)])))
                        .parameter("path.id", source);
                    if ACTS.contains(target) {
                        link = link.parameter("header.If-Match", "$response.header.ETag");
                    }
                    response
                        .links
                        .insert(target.to_string(), RefOr::T(link.build()));
                }
            }
        }
    }
}

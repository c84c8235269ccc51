//! Email: templates rendered from facts the caller gathered, MIME messages built from them, and
//! the transports that deliver them (SMTP or `.eml` files). No database and no clock here: the
//! outbox dispatcher decides what to send and when, and calls this module to send it.

mod message;
mod templates;
mod transport;

/// The lettre types the interface speaks in, so callers need not name lettre.
pub use lettre::{Message, message::Mailbox};
pub use message::{ExtraHeaders, MessageError, build_message, message_id_domain};
pub use templates::{
    Attachment, CheckpointEmail, EmailContext, EmailFacts, RenderedEmail, SignInEmail,
    TemplateError, Templates, expected_files,
};
pub use transport::{
    FileMailer, Mailer, PASSWORD_FILE_VAR, PASSWORD_VAR, SendError, SmtpMailer, SmtpPassword,
    TransportError, mailer_from_settings,
};

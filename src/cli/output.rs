//! Aligned tables for people, JSON for programs.
//!
//! Everything goes to stdout through [`write_out`] (the `out!` and `outln!` macros), never
//! `print!`: `println!` panics when the reader has gone (`accession procedures list | head`).

use std::io::{ErrorKind, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

/// Write to stdout. When the reader has closed the pipe, end quietly with exit code 0: the
/// command has done its work, only the rest of its output is unwanted. Any other failure to
/// write is an internal error (exit code 4).
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(4);
    }
}

/// `print!` that ends quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` that ends quietly on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// The time zone human output shows times in (`calendar.time_zone`; UTC until settings are
/// read). JSON output keeps RFC 3339 in UTC.
static ZONE: std::sync::OnceLock<chrono_tz::Tz> = std::sync::OnceLock::new();

/// Show times in `zone` from now on (set once, when the settings are read).
pub fn show_times_in(zone: chrono_tz::Tz) {
    let _ = ZONE.set(zone);
}

/// A time for people: to the minute, in the configured zone, with its offset
/// (`2024-05-02 09:00 +06:00`), so a reader in another zone is not misled.
pub fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    let zone = ZONE.get().copied().unwrap_or(chrono_tz::UTC);
    at.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
}

pub fn print_json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => outln!("{text}"),
        // Exit as write_out does: a command that cannot print its result has failed internally.
        Err(e) => {
            eprintln!("error: cannot encode JSON: {e}");
            std::process::exit(4);
        }
    }
}

pub fn table(headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().copied());
    let mut empty = true;
    for row in rows {
        empty = false;
        t.add_row(row);
    }
    if empty {
        outln!("(none)");
    } else {
        // comfy-table pads each cell with a space on both sides; trim the left margin.
        for line in t.to_string().lines() {
            outln!("{}", line.strip_prefix(' ').unwrap_or(line).trim_end());
        }
    }
}

//! Aligned tables for people, JSON for programs.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

pub fn print_json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
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
        println!("(none)");
    } else {
        // comfy-table pads each cell with a space on both sides; trim the left margin.
        for line in t.to_string().lines() {
            println!("{}", line.strip_prefix(' ').unwrap_or(line).trim_end());
        }
    }
}

//! Positions in source text, for errors that say file:line:column. Pure.

/// 1-based line and column (in characters, not bytes) of a byte offset into `source`. An offset
/// past the end, or inside a character, counts up to the nearest valid point before it.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn lines_and_columns_count_characters_from_one() {
        let text = "a = 1\nназвание = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // `=` after the eight Cyrillic letters (two bytes each) and a space.
        assert_eq!(line_column(text, 6 + 16 + 1), (2, 10));
        assert_eq!(line_column(text, 10_000), (3, 1));
        // Inside a two-byte letter: the letter's own position.
        assert_eq!(line_column(text, 7), (2, 1));
    }
}

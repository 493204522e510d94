//! Go's `text/tabwriter` (padding with spaces, no flags), which Docker's CLIs print every table through.
//!
//! Cells end at a tab; the text after a line's last tab is not a cell of any column and is never padded. A
//! column's width is decided per block of consecutive lines that all have a cell in it: the widest cell plus
//! the padding, and at least the minimum width. Widths count characters, as Go counts runes.

/// A table being collected; [`TabWriter::render`] lays it out.
#[derive(Debug, Clone)]
pub struct TabWriter {
    min_width: usize,
    padding: usize,
    lines: Vec<Vec<String>>,
}

impl TabWriter {
    /// `tabwriter.NewWriter(out, min_width, 1, padding, ' ', 0)`.
    pub fn new(min_width: usize, padding: usize) -> Self {
        Self {
            min_width,
            padding,
            lines: Vec::new(),
        }
    }

    /// Adds the text of one or more lines; tabs separate cells, newlines end lines.
    pub fn write(&mut self, text: &str) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        for line in text.split('\n') {
            self.lines.push(line.split('\t').map(str::to_owned).collect());
        }
    }

    /// Adds one line from its cells (the last one is the unpadded trailing text).
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        self.lines.push(cells.iter().map(|c| c.as_ref().to_owned()).collect());
    }

    /// The laid-out text, every line ending with a newline.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for (l, cells) in self.lines.iter().enumerate() {
            let last = cells.len() - 1;
            for (c, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if c < last {
                    let pad = widths[l][c].saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat(' ').take(pad));
                }
            }
            out.push('\n');
        }
        out
    }

    /// Width of every terminated cell, line by line.
    fn widths(&self) -> Vec<Vec<usize>> {
        let mut widths: Vec<Vec<usize>> = self.lines.iter().map(|l| vec![0; l.len() - 1]).collect();
        let columns = self.lines.iter().map(|l| l.len() - 1).max().unwrap_or(0);
        for column in 0..columns {
            let mut start = 0;
            while start < self.lines.len() {
                if self.lines[start].len() - 1 <= column {
                    start += 1;
                    continue;
                }
                let end = (start..self.lines.len())
                    .find(|&l| self.lines[l].len() - 1 <= column)
                    .unwrap_or(self.lines.len());
                let widest = (start..end)
                    .map(|l| self.lines[l][column].chars().count() + self.padding)
                    .max()
                    .unwrap_or(0)
                    .max(self.min_width);
                (start..end).for_each(|l| widths[l][column] = widest);
                start = end;
            }
        }
        widths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_the_widest_cell_or_the_minimum() {
        let mut t = TabWriter::new(10, 3);
        t.write("NAME\tIMAGE\tPORTS\n");
        t.row(&["s1-web-1", "busybox", ""]);
        assert_eq!(t.render(), "NAME       IMAGE     PORTS\ns1-web-1   busybox   \n");
    }

    #[test]
    fn a_block_ends_where_a_line_has_no_cell_in_the_column() {
        let mut t = TabWriter::new(0, 1);
        t.write("a\tb\nlonger\nxy\tz\n");
        assert_eq!(t.render(), "a b\nlonger\nxy z\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = TabWriter::new(0, 2);
        t.write("é\tx\nab\ty\n");
        assert_eq!(t.render(), "é   x\nab  y\n");
    }
}

//! Docker's rules for turning a Dockerfile's physical lines into one instruction's line (the classic builder's
//! parser): `\`+newline continues the line (the escape and the blanks after it dropped, the next line appended as
//! it is), comment lines and blank lines inside a continuation are skipped (blank ones draw a warning), and a
//! continuation on the file's last line simply ends it.

/// An instruction's logical line.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The line as Docker shows it (`Step 2/3 : <text>`, `ONBUILD` triggers).
    pub text: String,
    /// A blank line was skipped inside the continuation (Docker warns about it).
    pub empty_continuation: bool,
}

/// Joins `raw` (an instruction and whatever follows it up to the next one) as Docker does.
pub fn join(raw: &str, escape: char) -> Joined {
    let mut lines = raw.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("").trim_start();
    let (part, mut more) = strip_continuation(first, escape);
    let mut text = part.to_owned();
    let mut empty_continuation = false;
    while more {
        let Some(line) = lines.next() else { break };
        let t = line.trim_start();
        if t.starts_with('#') {
            continue;
        }
        if t.is_empty() {
            empty_continuation = true;
            continue;
        }
        let (part, cont) = strip_continuation(line, escape);
        text.push_str(part);
        more = cont;
    }
    Joined {
        text,
        empty_continuation,
    }
}

/// A shell-form command's text (the crate hands it over with its continuations): joined, then trimmed.
pub fn shell_text(raw: &str, escape: char) -> String {
    join(raw, escape).text.trim().to_owned()
}

/// The line without its trailing escape (and the blanks after it), and whether the escape was there.
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    match line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        Some(body) => (body, true),
        None => (line, false),
    }
}

/// Docker's warning lines for instructions whose continuation had blank lines (empty when none had).
pub fn empty_continuation_warning(texts: &[&str]) -> String {
    if texts.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for t in texts {
        out.push_str(&format!("[WARNING]: Empty continuation line found in:\n    {t}\n"));
    }
    out.push_str("[WARNING]: Empty continuation lines will become errors in a future release.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_comment_lines_inside_a_continuation_are_skipped() {
        let j = join(
            "RUN echo one \\\n\n    two \\\n    # c\n      # d\n    three > /j\n# after\n",
            '\\',
        );
        assert_eq!(j.text, "RUN echo one     two     three > /j");
        assert!(j.empty_continuation);
    }

    #[test]
    fn continuation_at_end_of_file_is_dropped() {
        assert_eq!(join("RUN echo end > /end \\", '\\').text, "RUN echo end > /end ");
        assert_eq!(shell_text("echo end > /end \\\n", '\\'), "echo end > /end");
        assert_eq!(join("RUN a `  \n b\n", '`').text, "RUN a  b");
        assert!(!join("RUN a\n\nRUN b", '\\').empty_continuation);
    }
}

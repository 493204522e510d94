//! The Dockerfile, parsed once with the `parse-dockerfile` crate into berth's own typed instructions, each with
//! its line and source text (for progress lines, history and errors).

use super::lines;
use parse_dockerfile::{Command, Flag, HealthcheckArguments, Instruction, JsonOrStringArray, Source};

/// A command in exec form (JSON array) or shell form.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdForm {
    /// `["a", "b"]`.
    Exec(Vec<String>),
    /// `a b` (run by the stage's SHELL).
    Shell(String),
}

/// A COPY/ADD source: a path in the context (or stage) or a here-document.
#[derive(Debug, Clone, PartialEq)]
pub enum CopySrc {
    /// A path or glob (unexpanded).
    Path(String),
    /// `<<EOF` content and whether variables expand in it.
    HereDoc {
        /// The body.
        body: String,
        /// Variables expand (unquoted delimiter).
        expand: bool,
    },
}

/// One instruction.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `FROM [--platform=P] image [AS name]` (unexpanded).
    From {
        /// Image reference, `scratch` or a stage name.
        image: String,
        /// Stage name.
        name: Option<String>,
        /// `--platform`.
        platform: Option<String>,
    },
    /// `ARG name[=default] ...`.
    Arg(Vec<(String, Option<String>)>),
    /// `RUN`.
    Run {
        /// The command.
        cmd: CmdForm,
        /// `--mount=...` values.
        mounts: Vec<String>,
        /// `--network=...`.
        network: Option<String>,
        /// Here-documents after the command.
        heredocs: Vec<(String, bool)>,
    },
    /// `COPY` or `ADD`.
    Copy {
        /// `ADD` (unpacks local tars, fetches URLs).
        add: bool,
        /// Sources.
        srcs: Vec<CopySrc>,
        /// Destination.
        dest: String,
        /// `--from`.
        from: Option<String>,
        /// `--chown`.
        chown: Option<String>,
        /// `--chmod`.
        chmod: Option<String>,
        /// `--exclude` patterns.
        exclude: Vec<String>,
        /// `--checksum` (ADD of a URL).
        checksum: Option<String>,
    },
    /// `ENV` (raw arguments).
    Env(String),
    /// `LABEL` (raw arguments).
    Label(String),
    /// `EXPOSE` ports.
    Expose(Vec<String>),
    /// `WORKDIR`.
    Workdir(String),
    /// `USER`.
    User(String),
    /// `VOLUME` paths.
    Volume(Vec<String>),
    /// `CMD`.
    Cmd(CmdForm),
    /// `ENTRYPOINT`.
    Entrypoint(CmdForm),
    /// `SHELL`.
    Shell(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `HEALTHCHECK [options] CMD ...` (`None` command for `HEALTHCHECK NONE`).
    Healthcheck {
        /// `--interval=30s` and friends.
        options: Vec<(String, String)>,
        /// The test command.
        cmd: Option<CmdForm>,
    },
    /// `ONBUILD <instruction>` (the instruction's text).
    Onbuild(String),
    /// `MAINTAINER`.
    Maintainer(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Instr {
    /// 1-based line in the Dockerfile.
    pub line: usize,
    /// The instruction as written (continuations joined), e.g. `COPY a /b`.
    pub text: String,
    /// What it says.
    pub kind: Kind,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=`).
    pub escape: char,
    /// Every instruction in order (ARGs before the first FROM included).
    pub instrs: Vec<Instr>,
    /// Docker's parser warnings (blank lines inside continuations), shown before the first step.
    pub warnings: String,
}

/// Parses `text`; errors name `name` (the Dockerfile's path in the context) and the line.
pub fn parse(name: &str, text: &str) -> Result<Dockerfile, String> {
    // Docker drops a byte-order mark at the start; the parser would take it for part of the first keyword.
    let original = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = &mark_empty_exec_forms(original);
    let df = parse_dockerfile::parse(text).map_err(|e| format!("{name}:{}: {e}", e.line().max(1)))?;
    let escape = df
        .parser_directives
        .escape
        .as_ref()
        .map(|d| d.value.value)
        .unwrap_or('\\');
    // The marking keeps every line where it was, so an instruction's lines are taken from the original text.
    let orig_lines: Vec<&str> = original.split('\n').collect();
    let line_of = |at: usize| text[..at].matches('\n').count();
    let starts: Vec<usize> = df.instructions.iter().map(instr_start).collect();
    let (mut instrs, mut warned) = (Vec::new(), Vec::new());
    for (i, ins) in df.instructions.iter().enumerate() {
        let first = line_of(starts[i]);
        let last = starts.get(i + 1).map(|s| line_of(*s)).unwrap_or(orig_lines.len());
        let raw = orig_lines[first.min(orig_lines.len())..last.clamp(first, orig_lines.len())].join("\n");
        let joined = lines::join(&raw, escape);
        let src = joined.text;
        let line = first + 1;
        if joined.empty_continuation {
            warned.push(src.clone());
        }
        let kind = convert(ins, &src, escape).map_err(|e| format!("{name}:{line}: {src}: {e}"))?;
        instrs.push(Instr { line, text: src, kind });
    }
    let warned: Vec<&str> = warned.iter().map(String::as_str).collect();
    Ok(Dockerfile {
        escape,
        instrs,
        warnings: lines::empty_continuation_warning(&warned),
    })
}

/// Parses the text of one ONBUILD trigger (as stored in an image config).
pub fn parse_trigger(trigger: &str) -> Result<Instr, String> {
    let text = format!("FROM scratch\n{trigger}\n");
    let df = parse("ONBUILD trigger", &text)?;
    let mut ins = df
        .instrs
        .into_iter()
        .nth(1)
        .ok_or_else(|| format!("empty ONBUILD trigger {trigger:?}"))?;
    if matches!(ins.kind, Kind::From { .. } | Kind::Onbuild(_) | Kind::Maintainer(_)) {
        return Err(format!("{trigger}: not allowed as an ONBUILD trigger"));
    }
    ins.line = 0;
    Ok(ins)
}

/// Stands for `[]`: Docker accepts `ENTRYPOINT []` and `CMD []`, the grammar crate wants one element.
const EMPTY_EXEC: &str = "berth-empty-exec-form-7f3a9c";

/// Rewrites `ENTRYPOINT []` / `CMD []` lines to a one-element marker the grammar accepts (same lines, so errors
/// still name the right one).
fn mark_empty_exec_forms(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let (kw, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        let kw_ok = kw.eq_ignore_ascii_case("ENTRYPOINT") || kw.eq_ignore_ascii_case("CMD");
        if kw_ok
            && rest
                .trim()
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|r| r.trim().is_empty())
        {
            out.push_str(&format!("{kw} [\"{EMPTY_EXEC}\"]\n"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// A here-document's body with any marked line put back as written (`[]`).
fn unmark(body: &str) -> String {
    body.replace(&format!("[\"{EMPTY_EXEC}\"]"), "[]")
}

fn instr_start(ins: &Instruction<'_>) -> usize {
    let span = match ins {
        Instruction::Add(i) => &i.add.span,
        Instruction::Arg(i) => &i.arg.span,
        Instruction::Cmd(i) => &i.cmd.span,
        Instruction::Copy(i) => &i.copy.span,
        Instruction::Entrypoint(i) => &i.entrypoint.span,
        Instruction::Env(i) => &i.env.span,
        Instruction::Expose(i) => &i.expose.span,
        Instruction::From(i) => &i.from.span,
        Instruction::Healthcheck(i) => &i.healthcheck.span,
        Instruction::Label(i) => &i.label.span,
        Instruction::Maintainer(i) => &i.maintainer.span,
        Instruction::Onbuild(i) => &i.onbuild.span,
        Instruction::Run(i) => &i.run.span,
        Instruction::Shell(i) => &i.shell.span,
        Instruction::Stopsignal(i) => &i.stopsignal.span,
        Instruction::User(i) => &i.user.span,
        Instruction::Volume(i) => &i.volume.span,
        Instruction::Workdir(i) => &i.workdir.span,
        _ => return 0,
    };
    span.start
}

fn flags<'a, 'b: 'a>(fs: impl IntoIterator<Item = &'a Flag<'b>>) -> Vec<(String, String)> {
    fs.into_iter()
        .map(|f| {
            (
                f.name.value.to_string(),
                f.value.as_ref().map(|v| v.value.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

fn cmd_form(c: &Command<'_>, escape: char) -> CmdForm {
    match c {
        Command::Exec(a) if a.value.len() == 1 && a.value[0].value == EMPTY_EXEC => CmdForm::Exec(Vec::new()),
        Command::Exec(a) => CmdForm::Exec(a.value.iter().map(|s| s.value.to_string()).collect()),
        Command::Shell(s) => {
            let text = lines::shell_text(s.value, escape);
            leading_json(&text).map_or(CmdForm::Shell(text), CmdForm::Exec)
        }
        _ => CmdForm::Shell(String::new()),
    }
}

/// Docker decodes the first JSON value of `["a"] more` and ignores the rest (Go's json.Decoder); a line that
/// does not start with a JSON array of strings is shell form.
fn leading_json(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Vec<String>>();
    values.next()?.ok()
}

fn unknown_flag(instr: &str, name: &str) -> String {
    format!("unknown flag: --{name} (not an option of {instr})")
}

fn convert(ins: &Instruction<'_>, src: &str, escape: char) -> Result<Kind, String> {
    Ok(match ins {
        Instruction::From(f) => {
            let mut platform = None;
            for (k, v) in flags(&f.options) {
                match k.as_str() {
                    "platform" => platform = Some(v),
                    _ => return Err(unknown_flag("FROM", &k)),
                }
            }
            Kind::From {
                image: f.image.value.to_string(),
                name: f.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
                platform,
            }
        }
        Instruction::Arg(a) => Kind::Arg(arg_pairs(&a.arguments.value, escape)?),
        Instruction::Run(r) => {
            let (mut mounts, mut network) = (Vec::new(), None);
            for (k, v) in flags(&r.options) {
                match k.as_str() {
                    "mount" => mounts.push(v),
                    "network" => network = Some(v),
                    "security" => {}
                    _ => return Err(unknown_flag("RUN", &k)),
                }
            }
            Kind::Run {
                cmd: cmd_form(&r.arguments, escape),
                mounts,
                network,
                heredocs: r.here_docs.iter().map(|h| (unmark(&h.value), h.expand)).collect(),
            }
        }
        Instruction::Copy(c) => copy_kind(false, &c.options, &c.src, &c.dest.value)?,
        Instruction::Add(c) => copy_kind(true, &c.options, &c.src, &c.dest.value)?,
        Instruction::Env(e) => Kind::Env(e.arguments.value.to_string()),
        Instruction::Label(l) => Kind::Label(l.arguments.value.to_string()),
        Instruction::Expose(e) => Kind::Expose(e.arguments.iter().map(|s| s.value.to_string()).collect()),
        Instruction::Workdir(w) => Kind::Workdir(w.arguments.value.to_string()),
        Instruction::User(u) => Kind::User(u.arguments.value.to_string()),
        Instruction::Volume(v) => Kind::Volume(match &v.arguments {
            JsonOrStringArray::Json(a) => a.value.iter().map(|s| s.value.to_string()).collect(),
            JsonOrStringArray::String(a) => a.iter().map(|s| s.value.to_string()).collect(),
        }),
        Instruction::Cmd(c) => Kind::Cmd(cmd_form(&c.arguments, escape)),
        Instruction::Entrypoint(c) => Kind::Entrypoint(cmd_form(&c.arguments, escape)),
        Instruction::Shell(s) => Kind::Shell(s.arguments.iter().map(|s| s.value.to_string()).collect()),
        Instruction::Stopsignal(s) => Kind::StopSignal(s.arguments.value.to_string()),
        Instruction::Healthcheck(h) => Kind::Healthcheck {
            options: flags(&h.options),
            cmd: match &h.arguments {
                HealthcheckArguments::Cmd { arguments, .. } => Some(cmd_form(arguments, escape)),
                _ => None,
            },
        },
        Instruction::Onbuild(_) => Kind::Onbuild(onbuild_trigger(src)),
        Instruction::Maintainer(m) => Kind::Maintainer(m.name.value.to_string()),
        _ => return Err("instruction not supported".into()),
    })
}

/// The trigger as Docker records it: the line after `ONBUILD` and its blanks, as written.
fn onbuild_trigger(src: &str) -> String {
    let t = src.trim_start();
    let rest = t
        .get(7..)
        .filter(|_| t[..7].eq_ignore_ascii_case("ONBUILD"))
        .unwrap_or(t);
    rest.trim_start().to_owned()
}

fn copy_kind(add: bool, options: &[Flag<'_>], src: &[Source<'_>], dest: &str) -> Result<Kind, String> {
    let (mut from, mut chown, mut chmod, mut exclude, mut checksum) = (None, None, None, Vec::new(), None);
    let instr = if add { "ADD" } else { "COPY" };
    for (k, v) in flags(options) {
        match k.as_str() {
            "from" if !add => from = Some(v),
            "chown" => chown = Some(v),
            "chmod" => chmod = Some(v),
            "exclude" => exclude.push(v),
            "checksum" if add => checksum = Some(v),
            "link" | "parents" | "keep-git-dir" => {}
            _ => return Err(unknown_flag(instr, &k)),
        }
    }
    let srcs = src
        .iter()
        .map(|s| match s {
            Source::Path(p) => CopySrc::Path(p.value.to_string()),
            Source::HereDoc(h) => CopySrc::HereDoc {
                body: unmark(&h.value),
                expand: h.expand,
            },
            _ => CopySrc::Path(String::new()),
        })
        .collect();
    Ok(Kind::Copy {
        add,
        srcs,
        dest: dest.to_owned(),
        from,
        chown,
        chmod,
        exclude,
        checksum,
    })
}

fn arg_pairs(args: &str, escape: char) -> Result<Vec<(String, Option<String>)>, String> {
    let words = super::words::split_words(args, escape);
    if words.is_empty() {
        return Err("ARG requires at least one argument".into());
    }
    Ok(words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (w, None),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_with_lines() {
        let df = parse(
            "Dockerfile",
            "# syntax=x\nFROM busybox AS b\nRUN echo a \\\n  && echo b\nCOPY --chown=1:2 a b /d/\nCMD [\"x\"]\n",
        )
        .unwrap();
        assert_eq!(df.instrs.len(), 4);
        assert_eq!(df.instrs[1].line, 3);
        assert_eq!(
            df.instrs[1].kind,
            Kind::Run {
                cmd: CmdForm::Shell("echo a   && echo b".into()),
                mounts: vec![],
                network: None,
                heredocs: vec![]
            }
        );
        assert!(matches!(&df.instrs[2].kind, Kind::Copy { chown: Some(c), srcs, .. } if c == "1:2" && srcs.len() == 2));
        let df = parse("D", "FROM x\nENTRYPOINT []\nONBUILD RUN a\nONBUILD COPY . /b/\n").unwrap();
        assert_eq!(df.instrs[1].kind, Kind::Entrypoint(CmdForm::Exec(vec![])));
        assert_eq!(df.instrs[2].kind, Kind::Onbuild("RUN a".into()));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("Dockerfile", "FROM busybox\nFROB x\n").unwrap_err();
        assert!(e.starts_with("Dockerfile:2:"), "{e}");
    }
}

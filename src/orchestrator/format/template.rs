//! `--format` as the docker CLI reads it: `table`, `json`, or a Go template (`{{.Name}}\t{{.Status}}`, with
//! `table ` in front for a header and aligned columns). The template subset covers what scripts write: fields
//! (`.Name`, `.A.B`, `.`), `.Label "key"`, string and number literals, pipes, and the CLI's functions `json`,
//! `lower`, `upper`, `title`, `split`, `join`, `pad`, `truncate`, `print`, `println`, `printf`.

use super::tabwriter::TabWriter;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A template that could not be parsed or run; the text says where, as Go's does.
#[derive(Debug, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(String);

type Result<T> = std::result::Result<T, TemplateError>;

/// One thing to print: its fields by name (in the order `{{json .}}` shows them) and its labels for `.Label`.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Field name to value.
    pub fields: Map<String, Value>,
    /// Labels, for `{{.Label "key"}}`.
    pub labels: BTreeMap<String, String>,
}

/// What `--format` asked for.
#[derive(Debug, Clone)]
pub enum Format {
    /// The verb's own table.
    Table,
    /// The verb's JSON.
    Json,
    /// A Go template; `table` when it started with `table ` (header line and tabwriter columns).
    Template { table: bool, template: Template },
}

impl Format {
    /// Reads a `--format` value ("table", "json", "table {{...}}" or "{{...}}").
    pub fn parse(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        match trimmed {
            "" | "table" | "pretty" => return Ok(Self::Table),
            "json" => return Ok(Self::Json),
            _ => {}
        }
        // The CLI takes the two-character escapes of a shell argument as the characters.
        let text = text.replace("\\t", "\t").replace("\\n", "\n");
        match text.strip_prefix("table ") {
            Some(rest) => Ok(Self::Template {
                table: true,
                template: Template::parse(rest)?,
            }),
            None => Ok(Self::Template {
                table: false,
                template: Template::parse(&text)?,
            }),
        }
    }
}

/// Prints `rows` through `template`; with `table`, a header line first (each field replaced by its name in
/// `headers`) and the columns aligned as the docker CLI aligns them.
pub fn render(template: &Template, table: bool, headers: &Row, rows: &[Row]) -> Result<String> {
    if !table {
        let mut out = String::new();
        for row in rows {
            out.push_str(&template.execute(row)?);
            out.push('\n');
        }
        return Ok(out);
    }
    let mut writer = TabWriter::new(10, 3);
    writer.write(&template.execute(headers)?);
    for row in rows {
        writer.write(&template.execute(row)?);
    }
    Ok(writer.render())
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Command>),
}

/// One command of a pipeline: a function and its arguments, or a single value.
#[derive(Debug, Clone)]
struct Command(Vec<Arg>);

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Str(String),
    Num(f64),
    Ident(String),
    /// A parenthesised pipeline.
    Sub(Vec<Command>),
}

impl Template {
    /// Parses Go template text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut nodes = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut literal = &rest[..open];
            if trim_next {
                literal = literal.trim_start();
            }
            let mut inner = &rest[open + 2..];
            if let Some(stripped) = inner.strip_prefix("- ") {
                literal = literal.trim_end();
                inner = stripped;
            }
            let close = inner
                .find("}}")
                .ok_or_else(|| TemplateError(format!("unclosed action in {text:?}")))?;
            let mut body = &inner[..close];
            trim_next = body.ends_with(" -");
            if trim_next {
                body = &body[..body.len() - 2];
            }
            if !literal.is_empty() {
                nodes.push(Node::Text(literal.to_owned()));
            }
            if !body.trim().starts_with("/*") {
                nodes.push(Node::Action(parse_pipeline(body)?));
            }
            rest = &inner[close + 2..];
        }
        let tail = if trim_next { rest.trim_start() } else { rest };
        if !tail.is_empty() {
            nodes.push(Node::Text(tail.to_owned()));
        }
        Ok(Self { nodes })
    }

    /// Runs the template on one row.
    pub fn execute(&self, row: &Row) -> Result<String> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipeline) => {
                    let mut value: Option<Value> = None;
                    for command in pipeline {
                        value = Some(run_command(command, row, value)?);
                    }
                    out.push_str(&text_of(&value.unwrap_or(Value::Null)));
                }
            }
        }
        Ok(out)
    }
}

fn parse_pipeline(body: &str) -> Result<Vec<Command>> {
    let words = tokenize(body)?;
    let mut commands = vec![Command(Vec::new())];
    for word in words {
        match word {
            Token::Pipe => commands.push(Command(Vec::new())),
            Token::Arg(arg) => commands.last_mut().map(|c| c.0.push(arg)).unwrap_or(()),
        }
    }
    if commands.iter().any(|c| c.0.is_empty()) {
        return Err(TemplateError(format!("missing value for command in {{{{{body}}}}}")));
    }
    Ok(commands)
}

enum Token {
    Pipe,
    Arg(Arg),
}

fn tokenize(body: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '|' => {
                chars.next();
                tokens.push(Token::Pipe);
            }
            '"' => tokens.push(Token::Arg(Arg::Str(quoted(&mut chars, body)?))),
            '(' => {
                chars.next();
                let mut depth = 1;
                let mut inner = String::new();
                for c in chars.by_ref() {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        break;
                    }
                    inner.push(c);
                }
                if depth != 0 {
                    return Err(TemplateError(format!("unclosed left paren in {{{{{body}}}}}")));
                }
                tokens.push(Token::Arg(Arg::Sub(parse_pipeline(&inner)?)));
            }
            '`' => {
                chars.next();
                let s: String = chars.by_ref().take_while(|&c| c != '`').collect();
                tokens.push(Token::Arg(Arg::Str(s)));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '|' | '"' | '(' | ')') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if word.is_empty() {
                    return Err(TemplateError(format!("unexpected {c:?} in {{{{{body}}}}}")));
                }
                tokens.push(Token::Arg(word_arg(&word, body)?));
            }
        }
    }
    Ok(tokens)
}

fn quoted(chars: &mut std::iter::Peekable<std::str::Chars>, body: &str) -> Result<String> {
    chars.next();
    let mut s = String::new();
    loop {
        match chars.next() {
            None => return Err(TemplateError(format!("unterminated quoted string in {{{{{body}}}}}"))),
            Some('"') => return Ok(s),
            Some('\\') => match chars.next() {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some(other) => s.push(other),
                None => return Err(TemplateError(format!("unterminated quoted string in {{{{{body}}}}}"))),
            },
            Some(c) => s.push(c),
        }
    }
}

fn word_arg(word: &str, body: &str) -> Result<Arg> {
    if word == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = word.strip_prefix('.') {
        return Ok(Arg::Field(path.split('.').map(str::to_owned).collect()));
    }
    if let Ok(n) = word.parse::<f64>() {
        return Ok(Arg::Num(n));
    }
    if word.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Ok(Arg::Ident(word.to_owned()));
    }
    Err(TemplateError(format!("unexpected {word:?} in {{{{{body}}}}}")))
}

fn run_command(command: &Command, row: &Row, piped: Option<Value>) -> Result<Value> {
    let (head, args) = command
        .0
        .split_first()
        .expect("parse_pipeline keeps commands non-empty");
    match head {
        Arg::Ident(name) => {
            let mut values = args.iter().map(|a| value_of(a, row)).collect::<Result<Vec<_>>>()?;
            values.extend(piped);
            call(name, &values)
        }
        Arg::Field(path) if path.len() == 1 && path[0] == "Label" && args.len() == 1 => {
            let key = text_of(&value_of(&args[0], row)?);
            Ok(Value::String(row.labels.get(&key).cloned().unwrap_or_default()))
        }
        _ if args.is_empty() && piped.is_none() => value_of(head, row),
        _ => Err(TemplateError("can't give argument to non-function".to_owned())),
    }
}

fn value_of(arg: &Arg, row: &Row) -> Result<Value> {
    match arg {
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Num(n) => Ok(serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        Arg::Ident(name) => call(name, &[]),
        Arg::Sub(pipeline) => {
            let mut value = None;
            for command in pipeline {
                value = Some(run_command(command, row, value)?);
            }
            Ok(value.unwrap_or(Value::Null))
        }
        Arg::Field(path) => {
            let mut value = Value::Object(row.fields.clone());
            for part in path {
                value = match value {
                    Value::Object(mut map) => map.remove(part).unwrap_or(Value::Null),
                    _ => return Err(TemplateError(format!("can't evaluate field {part}"))),
                };
            }
            Ok(value)
        }
    }
}

fn call(name: &str, args: &[Value]) -> Result<Value> {
    let text = |i: usize| args.get(i).map(text_of).unwrap_or_default();
    let number = |i: usize| args.get(i).and_then(Value::as_f64).unwrap_or(0.0) as usize;
    let want = |n: usize| {
        (args.len() == n)
            .then_some(())
            .ok_or_else(|| TemplateError(format!("wrong number of args for {name}: want {n} got {}", args.len())))
    };
    let s = match name {
        "json" => {
            want(1)?;
            serde_json::to_string(&args[0]).map_err(|e| TemplateError(e.to_string()))?
        }
        "lower" => text(0).to_lowercase(),
        "upper" => text(0).to_uppercase(),
        "title" => title(&text(0)),
        "split" => {
            want(2)?;
            let parts = text(0)
                .split(text(1).as_str())
                .map(|p| Value::String(p.to_owned()))
                .collect();
            return Ok(Value::Array(parts));
        }
        "join" => {
            want(2)?;
            let items = args[0].as_array().cloned().unwrap_or_default();
            items.iter().map(text_of).collect::<Vec<_>>().join(&text(1))
        }
        "pad" => {
            want(3)?;
            format!("{}{}{}", " ".repeat(number(1)), text(0), " ".repeat(number(2)))
        }
        "truncate" => {
            want(2)?;
            text(0).chars().take(number(1)).collect()
        }
        "print" => args.iter().map(text_of).collect::<Vec<_>>().join(""),
        "println" => args.iter().map(text_of).collect::<Vec<_>>().join(" ") + "\n",
        "printf" => printf(&text(0), &args[1.min(args.len())..]),
        _ => return Err(TemplateError(format!("function {name:?} not defined"))),
    };
    Ok(Value::String(s))
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// `printf` with the verbs scripts use: `%s`, `%v`, `%d`, `%q`, `%%`.
fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&super::human::quote(&args.next().map(text_of).unwrap_or_default())),
            Some(_) => out.push_str(&args.next().map(text_of).unwrap_or_else(|| "%!v(MISSING)".to_owned())),
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

/// How Go's template prints a value.
fn text_of(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(text_of).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => {
            let mut pairs: Vec<_> = map.iter().map(|(k, v)| format!("{k}:{}", text_of(v))).collect();
            pairs.sort();
            format!("map[{}]", pairs.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        let mut fields = Map::new();
        fields.insert("Name".into(), "s1-web-1".into());
        fields.insert("State".into(), "running".into());
        fields.insert("Size".into(), 3.into());
        Row {
            fields,
            labels: BTreeMap::from([("com.docker.compose.service".into(), "web".into())]),
        }
    }

    fn run(t: &str) -> String {
        Template::parse(t).unwrap().execute(&row()).unwrap()
    }

    #[test]
    fn fields_functions_and_pipes() {
        assert_eq!(run("{{.Name}} {{.State}}"), "s1-web-1 running");
        assert_eq!(run("{{json .Name}}"), "\"s1-web-1\"");
        assert_eq!(run("{{.Name | upper}}"), "S1-WEB-1");
        assert_eq!(run("{{.Label \"com.docker.compose.service\"}}"), "web");
        assert_eq!(run("{{printf \"%s=%d\" .Name .Size}}"), "s1-web-1=3");
        assert_eq!(run("{{join (split .Name \"-\") \",\"}}"), "s1,web,1");
        assert_eq!(run("{{json .}}"), r#"{"Name":"s1-web-1","State":"running","Size":3}"#);
        assert_eq!(run("a {{- .State -}} b"), "arunningb");
        assert_eq!(run("{{.Missing}}"), "<no value>");
    }

    #[test]
    fn bad_templates_are_errors() {
        assert!(Template::parse("{{.Name").is_err());
        assert!(Template::parse("{{nope .Name}}").unwrap().execute(&row()).is_err());
    }

    #[test]
    fn table_templates_get_a_header_and_columns() {
        let Format::Template { table, template } = Format::parse("table {{.Name}}\\t{{.State}}").unwrap() else {
            panic!("not a template")
        };
        let mut headers = Row::default();
        headers.fields.insert("Name".into(), "NAME".into());
        headers.fields.insert("State".into(), "STATE".into());
        let out = render(&template, table, &headers, &[row()]).unwrap();
        assert_eq!(out, "NAME       STATE\ns1-web-1   running\n");
    }
}

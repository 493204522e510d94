//! The `changes` of `docker import` and `docker commit`: Dockerfile instructions (`CMD`, `ENTRYPOINT`, `ENV`,
//! `EXPOSE`, `LABEL`, `ONBUILD`, `STOPSIGNAL`, `USER`, `VOLUME`, `WORKDIR`) applied to an image config.

use crate::error::{EngineError, Result};
use bollard::models::ImageConfig;

/// Applies each change, in order, to `config`.
pub fn apply(config: &mut ImageConfig, changes: &[String]) -> Result<()> {
    for change in changes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        apply_one(config, change).map_err(|e| EngineError::BadRequest(format!("change {change:?}: {e}")))?;
    }
    Ok(())
}

fn apply_one(c: &mut ImageConfig, change: &str) -> std::result::Result<(), String> {
    let (word, rest) = change.split_once(char::is_whitespace).unwrap_or((change, ""));
    let rest = rest.trim();
    match word.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(command(rest)),
        "ENTRYPOINT" => c.entrypoint = Some(command(rest)),
        "ENV" => {
            let env = c.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs(rest)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => c.labels.get_or_insert_with(Default::default).extend(pairs(rest)?),
        "EXPOSE" => {
            let ports = c.exposed_ports.get_or_insert_with(Vec::new);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_owned() } else { format!("{p}/tcp") };
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
        }
        "VOLUME" => {
            let vols = c.volumes.get_or_insert_with(Vec::new);
            let list = json_list(rest).unwrap_or_else(|| rest.split_whitespace().map(str::to_owned).collect());
            for v in list {
                if !vols.contains(&v) {
                    vols.push(v);
                }
            }
        }
        "USER" => c.user = Some(rest.to_owned()),
        "WORKDIR" => c.working_dir = Some(rest.to_owned()),
        "STOPSIGNAL" => c.stop_signal = Some(rest.to_owned()),
        "ONBUILD" => c.on_build.get_or_insert_with(Vec::new).push(rest.to_owned()),
        other => {
            return Err(format!(
                "{other} is not a valid change command (expected one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)"
            ))
        }
    }
    Ok(())
}

/// A JSON array of strings (`["a", "b"]`), if `text` is one.
fn json_list(text: &str) -> Option<Vec<String>> {
    text.starts_with('[').then(|| serde_json::from_str(text).ok()).flatten()
}

/// The exec form (`["a","b"]`) as is, the shell form wrapped in `/bin/sh -c`.
fn command(text: &str) -> Vec<String> {
    json_list(text).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), text.to_owned()])
}

/// `k=v k2="v 2"` or the old one-pair form `k v`.
fn pairs(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let first = text.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = text
            .split_once(char::is_whitespace)
            .ok_or("expected key=value or key value")?;
        return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            return Err(format!("{key}: expected key=value"));
        }
        let mut value = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => value.extend(chars.next()),
                (None, c) if c.is_whitespace() => break,
                (_, c) => value.push(c),
            }
        }
        out.push((key.trim().to_owned(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_changes() {
        let mut c = ImageConfig::default();
        let changes = [
            r#"CMD ["/hello", "x"]"#,
            "ENTRYPOINT echo hi",
            "ENV A=1 B=\"two words\"",
            "ENV C 3",
            "EXPOSE 80 53/udp",
            "LABEL k=v",
            "WORKDIR /srv",
            "USER nobody",
            "VOLUME /data",
        ];
        apply(&mut c, &changes.map(String::from)).unwrap();
        assert_eq!(c.cmd.unwrap(), ["/hello", "x"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), ["A=1", "B=two words", "C=3"]);
        assert_eq!(c.exposed_ports.unwrap(), ["80/tcp", "53/udp"]);
        assert_eq!(c.labels.unwrap()["k"], "v");
        assert_eq!(c.working_dir.unwrap(), "/srv");
        assert_eq!(c.user.unwrap(), "nobody");
        assert_eq!(c.volumes.unwrap(), ["/data"]);
        let err = apply(&mut ImageConfig::default(), &["RUN x".into()]).unwrap_err();
        assert!(err.to_string().contains("RUN is not a valid change command"), "{err}");
    }
}

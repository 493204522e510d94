//! Kubernetes names and labels: Compose names made DNS-1035 labels, label keys and values checked.

/// Label naming the Compose project of an object (Compose Bridge's spelling).
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Label naming the Compose service of a pod; Services and policies select on it.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// Prefix of the per-network labels (`com.docker.compose.network.<name>: "true"`).
pub const NETWORK_LABEL: &str = "com.docker.compose.network.";

/// The longest DNS label.
const LABEL_MAX: usize = 63;

/// A DNS-1035 label for `name`: lowercase, `_`/`.`/other characters as `-`, starting with a letter.
/// None when nothing usable is left.
pub fn dns_label(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    let trimmed = trimmed.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    let mut s: String = trimmed.chars().take(LABEL_MAX).collect();
    while s.ends_with('-') {
        s.pop();
    }
    (!s.is_empty()).then_some(s)
}

/// A file-name-safe and object-name-safe form of a path (`/etc/nginx/nginx.conf` → `etc-nginx-nginx-conf`).
pub fn path_slug(path: &str) -> String {
    dns_label(path).unwrap_or_else(|| "root".to_owned())
}

/// Whether `key` is a valid label or annotation key (optional DNS prefix, `/`, a name of up to 63 characters).
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    prefix_ok && is_label_value(name) && !name.is_empty()
}

/// Whether `v` is a valid label value (up to 63 characters, alphanumerics with `-_.` inside).
pub fn is_label_value(v: &str) -> bool {
    v.len() <= LABEL_MAX
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// A port name (IANA service name: up to 15 characters, lowercase, at least one letter).
pub fn port_name(protocol: &str, port: u16) -> String {
    format!("{}-{port}", protocol.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_names_become_dns_labels() {
        assert_eq!(dns_label("web").as_deref(), Some("web"));
        assert_eq!(dns_label("My_DB.primary").as_deref(), Some("my-db-primary"));
        assert_eq!(dns_label("1st").as_deref(), Some("st"));
        assert_eq!(dns_label("__"), None);
        assert_eq!(dns_label(&"a".repeat(80)).map(|s| s.len()), Some(63));
    }

    #[test]
    fn label_keys_and_values() {
        assert!(is_qualified_name("com.example.description"));
        assert!(is_qualified_name("example.com/tier"));
        assert!(!is_qualified_name("bad key"));
        assert!(is_label_value("v1.2"));
        assert!(!is_label_value("two words"));
        assert!(!is_label_value("-x"));
    }
}

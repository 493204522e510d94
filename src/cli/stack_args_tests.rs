//! Parsing of the Compose verbs' flags as Docker Compose spells them.

use super::*;
use crate::orchestrator::build;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Subcommand)]
enum Verb {
    Up(UpArgs),
    Run(RunArgs),
    Build(BuildArgs),
    Pull(PullArgs),
    Restart(RestartArgs),
    Attach(AttachArgs),
    Create(CreateArgs),
}

fn parse(args: &[&str]) -> Result<Verb, clap::Error> {
    Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied())).map(|c| c.verb)
}

#[test]
fn up_flags_parse_as_compose_spells_them() {
    let Ok(Verb::Up(a)) = parse(&[
        "up",
        "-V",
        "-y",
        "--menu=false",
        "--timestamps",
        "--no-attach",
        "a",
        "--no-attach",
        "b",
        "--attach-dependencies",
        "--abort-on-container-failure",
        "--always-recreate-deps",
        "--quiet-pull",
        "--quiet-build",
        "web",
    ]) else {
        panic!("up parses");
    };
    assert!(a.renew_anon_volumes && a.yes && a.timestamps && a.attach_dependencies);
    assert!(a.abort_on_container_failure && a.always_recreate_deps && a.converge.quiet_pull && a.quiet_build);
    assert_eq!(
        (a.menu, a.no_attach.as_slice(), a.services.as_slice()),
        (
            Some(false),
            &["a".to_owned(), "b".to_owned()][..],
            &["web".to_owned()][..]
        )
    );
    assert!(matches!(
        parse(&["up", "--menu"]),
        Ok(Verb::Up(UpArgs { menu: Some(true), .. }))
    ));
    assert!(matches!(parse(&["create", "-y", "--quiet-pull"]), Ok(Verb::Create(_))));
}

#[test]
fn run_flags_parse_with_interactive_on_by_default() {
    let Ok(Verb::Run(a)) = parse(&[
        "run",
        "-l",
        "a=b",
        "--cap-add",
        "NET_ADMIN,SYS_TIME",
        "--cap-drop",
        "CHOWN",
        "--env-from-file",
        "x.env",
        "--use-aliases",
        "-q",
        "--pull",
        "never",
        "svc",
        "echo",
        "-i",
    ]) else {
        panic!("run parses");
    };
    assert!(a.interactive, "-i is on by default");
    assert_eq!(a.cap_add, ["NET_ADMIN", "SYS_TIME"]);
    assert_eq!(
        (a.labels.as_slice(), a.command.as_slice()),
        (&["a=b".to_owned()][..], &["echo".to_owned(), "-i".to_owned()][..])
    );
    assert!(a.use_aliases && a.quiet && a.pull.as_deref() == Some("never"));
    let Ok(Verb::Run(a)) = parse(&["run", "-i=false", "svc"]) else {
        panic!("-i=false parses");
    };
    assert!(!a.interactive);
}

#[test]
fn build_pull_restart_attach_flags_parse() {
    let Ok(Verb::Build(a)) = parse(&[
        "build",
        "-m",
        "512m",
        "--push",
        "--provenance=false",
        "--ssh",
        "default",
    ]) else {
        panic!("build parses");
    };
    let o: build::BuildOptions = a.into();
    assert_eq!((o.memory.as_deref(), o.push), (Some("512m"), true));
    assert_eq!(
        o.buildx_only,
        [("--ssh", "default".to_owned())],
        "--provenance=false is no attestation"
    );
    let err = parse(&["pull", "--policy", "sometimes"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("--policy"), "{err}");
    assert!(matches!(
        parse(&["pull", "--policy", "missing", "--include-deps", "--ignore-buildable"]),
        Ok(Verb::Pull(_))
    ));
    assert!(matches!(
        parse(&["restart", "--no-deps", "db"]),
        Ok(Verb::Restart(RestartArgs { no_deps: true, .. }))
    ));
    let Ok(Verb::Attach(a)) = parse(&[
        "attach",
        "--sig-proxy=false",
        "--no-stdin",
        "--detach-keys",
        "ctrl-x",
        "--index",
        "2",
        "web",
    ]) else {
        panic!("attach parses");
    };
    assert!(!a.sig_proxy && a.no_stdin && a.index == 2 && a.detach_keys.as_deref() == Some("ctrl-x"));
}

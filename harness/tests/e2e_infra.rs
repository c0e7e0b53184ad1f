//! Infrastructure services: started before the nodes, reached only through
//! the proxy (`{infra.NAME}`), stopped with the run.

mod common;

use checkers::history::{Event, ProcessEvent};
use common::*;

const WEB_TARGET: &str = r#"
name = "web-clients"
[node]
# Each node fetches a page through its proxy address for the service, then
# reports; n1 claims leadership. Fails loudly if the proxy does not forward.
argv = ["python3", "-c", "import urllib.request, json, time, sys; body = urllib.request.urlopen('http://{infra.web}/hello.txt', timeout=5).read(); print(body.decode().strip(), file=sys.stderr); print(json.dumps(dict(type='ready')), flush=True); print(json.dumps(dict(type='state', role='leader' if '{id}' == 'n1' else 'follower', term=1, leader='n1')), flush=True); time.sleep(60)"]
ready_timeout = "15s"
[timing]
election_timeout = ["100ms", "200ms"]
[promises]
liveness = "via-infrastructure"
[[infrastructure]]
name = "web"
argv = ["sh", "-c", "echo hello-through-the-proxy > {dir}/hello.txt && exec python3 -m http.server {port} --bind 127.0.0.1 --directory {dir}"]
package = "python3"
"#;

#[test]
fn nodes_reach_infrastructure_through_the_proxy_and_it_stops_with_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = target_file(tmp.path(), "web.toml", WEB_TARGET);
    let store = tmp.path().join("store");
    let out = run_in(
        &store,
        &[
            "--target",
            t.to_str().unwrap(),
            "--nodes",
            "3",
            "--time-limit",
            "1s",
            "--nemesis",
            "none",
            "--recovery",
            "500ms",
        ],
    );
    let dir = latest(&store);
    let records = history(&dir);
    let header = match &records[0].event {
        Event::Run(h) => h.clone(),
        e => panic!("{e:?}"),
    };
    assert_eq!(header.infrastructure, vec!["web".to_string()]);
    let web_ready = records.iter().position(|r| matches!(&r.event, Event::Process(p) if p.node == "web" && p.event == ProcessEvent::Ready));
    let first_node = records.iter().position(|r| matches!(&r.event, Event::Process(p) if p.node == "n1" && p.event == ProcessEvent::Start));
    assert!(
        web_ready.unwrap() < first_node.unwrap(),
        "infrastructure is ready before nodes start"
    );
    // Every node fetched the page through the proxy.
    for n in ["n1", "n2", "n3"] {
        let err = std::fs::read_to_string(dir.join("nodes").join(format!("{n}.stderr"))).unwrap();
        assert!(err.contains("hello-through-the-proxy"), "{n}: {err}");
    }
    assert!(records
        .iter()
        .any(|r| matches!(&r.event, Event::State(s) if s.node == "n1" && s.term == 1)));
    assert!(
        out.status.code().is_some_and(|c| c <= 2),
        "{:?}",
        out.status
    );
    let left = wait_no_processes(
        &dir.display().to_string(),
        std::time::Duration::from_secs(2),
    );
    assert!(
        left.is_empty(),
        "the service and nodes are stopped: {left:?}"
    );
}

#[test]
fn missing_infrastructure_binary_names_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let t = target_file(
        tmp.path(),
        "needs.toml",
        "[node]\nargv = [\"true\"]\n[[infrastructure]]\nname = \"kv\"\nargv = [\"no-such-kv-server\", \"--port\", \"{port}\"]\npackage = \"kv-server\"\n",
    );
    let out = run_in(
        &tmp.path().join("store"),
        &["--target", t.to_str().unwrap(), "--nodes", "1"],
    );
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install kv-server"), "{err}");
}

#[test]
fn a_cluster_of_zero_members_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let t = target_file(
        tmp.path(),
        "zero.toml",
        "[node]\nargv = [\"true\"]\n[[infrastructure]]\nname = \"kv\"\nmembers = 0\nargv = [\"kv-server\", \"--port\", \"{port}\"]\n",
    );
    let out = run_in(
        &tmp.path().join("store"),
        &["--target", t.to_str().unwrap(), "--nodes", "1"],
    );
    assert_eq!(out.status.code(), Some(254), "a configuration error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zero.toml:5:") && err.contains("members must be between 1 and 9"),
        "{err}"
    );
}

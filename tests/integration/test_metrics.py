"""/metrics by the Prometheus exposition format's conventions (API.md §4),
read with Prometheus's own text parser (python3-prometheus-client), and
/metrics/snapshot holding the same numbers in Mesos's flat JSON."""

from prometheus_client.parser import text_string_to_metric_families

from berthlib import launch_call


def scrape(client):
    r = client.get("/metrics")
    assert r.status == 200, r
    assert r.content_type.startswith("text/plain"), r.content_type
    text = r.body.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return text, families


def value(families, family, sample, **labels):
    """The sample's value; 0 when absent (a labelled counter appears with
    its first count)."""
    if family not in families:
        return 0.0
    for s in families[family].samples:
        if s.name == sample and s.labels == labels:
            return s.value
    return 0.0


def test_exposition_conventions(berthd, client):
    """Every family has HELP and TYPE (once each), is named berth_*,
    counters end in _total, the pull time is a histogram in seconds with a
    +Inf bucket, containers are labelled by stage."""
    text, families = scrape(client)
    helps = [l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")]
    types = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")]
    assert len(helps) == len(set(helps)) and len(types) == len(set(types)), text
    sample_families = set()
    for f in families.values():
        assert f.name.startswith("berth_"), f.name
        assert f.documentation, "no HELP for %s" % f.name
        assert f.type in ("counter", "gauge", "histogram"), (f.name, f.type)
        assert f.name in helps or f.name + "_total" in helps, f.name
        for s in f.samples:
            sample_families.add(f.name)
            if f.type == "counter":
                assert s.name.endswith("_total"), s.name
    # every sample line belongs to a described family
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert any(name == n or name.startswith(n + "_") for n in helps), line
    pull = families["berth_image_pull_seconds"]
    assert pull.type == "histogram"
    les = [s.labels["le"] for s in pull.samples if s.name.endswith("_bucket")]
    assert les[-1] == "+Inf" and len(les) > 2, les
    stages = {s.labels["stage"] for s in families["berth_containers"].samples}
    assert stages == {"FETCHING", "PULLING", "MOUNTING", "RUNNING", "DESTROYING", "TERMINATED"}
    assert families["berth_launches"].type == "counter"
    assert families["berth_docker_up"].type == "gauge"


def test_unknown_call_adds_no_label(berthd, client):
    """A call type the API does not serve is counted as UNKNOWN: a client
    cannot make up label values."""
    r = client.post_call({"type": 'EVIL"\nx'})
    assert r.status == 400, r
    text, families = scrape(client)
    assert "EVIL" not in text
    assert value(families, "berth_api_requests", "berth_api_requests_total", call="UNKNOWN", status="400") >= 1


def test_metrics_move_with_launches(berthd, client, new_id):
    """A launch that runs and exits 3 moves the launch counter, the answers
    by call and status, and the terminations by state; the snapshot has the
    same numbers."""
    _, before = scrape(client)
    cid = new_id("moves")
    w = client.run(launch_call(cid, "exit 3"), timeout=60)
    assert w["state"] == "TASK_FAILED", w
    _, after = scrape(client)
    snap = client.get("/metrics/snapshot").json()

    def delta(family, sample, **labels):
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)

    assert delta("berth_launches", "berth_launches_total") == 1
    assert delta("berth_api_requests", "berth_api_requests_total", call="LAUNCH_CONTAINER", status="200") == 1
    assert delta("berth_api_requests", "berth_api_requests_total", call="WAIT_CONTAINER", status="200") == 1
    assert delta("berth_terminations", "berth_terminations_total", state="TASK_FAILED", reason="") == 1
    assert snap["containerizer/docker/launches"] == value(after, "berth_launches", "berth_launches_total")
    assert snap["containerizer/docker/terminations/TASK_FAILED/none"] == value(
        after, "berth_terminations", "berth_terminations_total", state="TASK_FAILED", reason="")
    terminated = value(after, "berth_containers", "berth_containers", stage="TERMINATED")
    assert terminated >= 1
    assert snap["containerizer/docker/containers/TERMINATED"] == terminated
    assert "containerizer/docker/image_pull_ms/p99" in snap

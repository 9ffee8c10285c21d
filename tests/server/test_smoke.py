import httpx


def test_smoke(server):
    assert httpx.get(server.url + "/healthz").status_code == 200
    r = httpx.get(server.url + "/api/v1/projects")
    assert r.status_code == 401, r.text
    h = {"authorization": f"Bearer {server.admin_token}"}
    r = httpx.post(server.url + "/api/v1/projects", json={"name": "alpha"}, headers=h)
    assert r.status_code == 201, r.text
    v = server.make_token("viewer", "alpha")
    r = httpx.post(
        server.url + "/api/v1/projects",
        json={"name": "beta"},
        headers={"authorization": f"Bearer {v}"},
    )
    assert r.status_code == 403, r.text
    print(r.json())
    r = httpx.get(server.url + "/api/v1/projects", headers={"authorization": f"Bearer {v}"})
    assert [p["name"] for p in r.json()] == ["alpha"]
    for e in server.state.audit.list():
        print(e.seq, e.actor, e.action, e.outcome, e.project)
    assert server.state.audit.verify().ok

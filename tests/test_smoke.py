from conftest import login


def test_login_page(client):
    r = client.get("/login/")
    assert r.status_code == 200


def test_demo_flow(client, make_user):
    a = make_user("admin")
    r = login(client, a.email)
    assert r.status_code == 302
    r = client.get("/home/")
    assert r.status_code == 200, r.get_data(as_text=True)

from tests.conftest import TenantHandle, add_points, points_of, upsert


def test_add_then_remove_points(tenant: TenantHandle) -> None:
    upsert(tenant, "ana@example.com", Name="Ana")
    assert add_points(tenant, "ana@example.com", 100).status_code == 200
    assert add_points(tenant, "ana@example.com", -40).status_code == 200
    assert points_of(tenant, "ana@example.com")["PointsBalance"] == 60

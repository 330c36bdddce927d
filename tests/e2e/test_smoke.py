from tests.e2e.conftest import login, screenshot
from dicomvault.access import Role
def test_smoke(page):
    login(page, Role.ADMIN)
    page.wait_for_timeout(2000)
    screenshot(page, "smoke-studies")
    print(page.locator("#view").inner_text())

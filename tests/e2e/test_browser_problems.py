"""The e2e gate itself: a page that breaks the CSP or logs an error is caught, so every other browser test that ends
with no problems really had none."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_records_csp_violations_console_errors_and_uncaught_exceptions(
    fake_llm, settings, daphne_server, open_page, browser_problems
):
    page = open_page(daphne_server(settings.LLM_MODELS))
    page.goto("/accounts/login/")
    page.evaluate(
        """() => {
          const style = document.createElement("style");  // inline style: the CSP refuses it
          style.textContent = "body { color: red }";
          document.head.appendChild(style);
          console.error("something broke");
          setTimeout(() => { throw new Error("nobody caught this"); });
        }"""
    )
    page.wait_for_timeout(200)  # the violation event and the thrown error arrive after the call returns

    found = "\n".join(browser_problems.items)
    assert "CSP violation: style-src-elem blocked inline" in found
    assert "console: something broke" in found
    assert "uncaught: nobody caught this" in found
    browser_problems.items.clear()  # provoked on purpose: the fixture's own check at teardown stays

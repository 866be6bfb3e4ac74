"""Every page runs inside app.py's navigation, even on a visitor's very first request to a page's URL.

Streamlit serves a URL such as /train from the `pages/` folder (its older multipage mode) until the
entrypoint has called `st.navigation` once in this server: that first visitor would get the page without
app.py's layout, sidebar and page names. A page run that way hands over to app.py, which shows the page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

IN_APP = "_gan_in_app"  # session_state: app.py's navigation is set up for this session
WANTED = "_gan_wanted_page"  # session_state: the page a first request asked for, before app.py ran


def mark_in_app() -> None:
    """Called by app.py before it runs a page."""
    st.session_state[IN_APP] = True


def within_app(page_file: str) -> None:
    """Hand over to app.py when this page runs outside its navigation (see the module doc).

    A page run on its own (`streamlit run pages/x.py`, Streamlit's AppTest.from_file) is its own
    entrypoint and is left alone. Either way the demo's upload cap holds first, whatever page is visited first.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from studio import policy, upload_guard

    upload_guard.enforce(policy.limits())

    ctx = get_script_run_ctx()
    if ctx is None or st.session_state.get(IN_APP):
        return
    entry = Path(ctx.main_script_path).resolve()
    if entry != Path(page_file).resolve() and entry.name == "app.py":
        st.session_state[WANTED] = f"pages/{Path(page_file).name}"
        st.switch_page("app.py")


def show_wanted_page() -> None:
    """In app.py, after `st.navigation`: go on to the page a first request asked for."""
    wanted = st.session_state.pop(WANTED, None)
    if wanted:
        st.switch_page(wanted)

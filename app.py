"""What `make run` serves: the dashboard (dashboard.py, the Streamlit script) behind a Host-header check on every
endpoint (ui/hosts.py), so that a web page on another site cannot drive it through DNS rebinding.

    streamlit run app.py
"""

import streamlit as st
from starlette.middleware import Middleware

from ui.hosts import AllowedHosts

app = st.App("dashboard.py", middleware=[Middleware(AllowedHosts)])

"""The dashboard's own package: which run sits in which slot (session), the only Streamlit caches (cache),
pure plotly figure builders (figures), colours and labels (theme), and shared page parts (widgets)."""

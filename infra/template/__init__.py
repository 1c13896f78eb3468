"""The merge template for `chalice package`, one module per concern; infra/build_template.py assembles it."""

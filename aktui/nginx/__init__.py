"""NGINX config checks for authentik forward auth: ``aktui.nginx.lint`` is the entry point
(``lint_paths``, ``lint_text``, ``LintFinding``, ``LintReport``). No Textual/rich here."""

"""Who is calling and what they may do: roles and their permissions (the one table), the caller as
a principal, users' API keys and the site's single sign-on tokens. No routes and no database here:
the edge (api/edge.py) authenticates with these, the routes' dependencies (api/access.py) authorize."""

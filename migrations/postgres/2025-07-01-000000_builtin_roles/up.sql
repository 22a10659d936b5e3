-- Built-in roles of the admin API (docs/admin-api.md): the permission catalogue and four roles
-- granted through it. Keep migrations/sqlite in step with this file.
-- `ON CONFLICT DO NOTHING` so a database where an operator already made a role of the same name
-- keeps that role (and its description) and merely gains the built-in permissions.

INSERT INTO permissions (name) VALUES
    ('users:read'), ('users:write'),
    ('roles:read'), ('roles:write'),
    ('clients:read'), ('clients:write'),
    ('keys:read'), ('keys:write'),
    ('audit:read')
ON CONFLICT DO NOTHING;

INSERT INTO roles (name, description) VALUES
    ('admin', 'Every administrative permission'),
    ('user-admin', 'Manage users and their roles; read roles'),
    ('client-admin', 'Manage OAuth clients'),
    ('auditor', 'Read everything, change nothing')
ON CONFLICT DO NOTHING;

INSERT INTO role_permissions (role_name, permission_name) VALUES
    ('admin', 'users:read'), ('admin', 'users:write'),
    ('admin', 'roles:read'), ('admin', 'roles:write'),
    ('admin', 'clients:read'), ('admin', 'clients:write'),
    ('admin', 'keys:read'), ('admin', 'keys:write'),
    ('admin', 'audit:read'),
    ('user-admin', 'users:read'), ('user-admin', 'users:write'), ('user-admin', 'roles:read'),
    ('client-admin', 'clients:read'), ('client-admin', 'clients:write'),
    ('auditor', 'audit:read'), ('auditor', 'users:read'), ('auditor', 'roles:read'),
    ('auditor', 'clients:read'), ('auditor', 'keys:read')
ON CONFLICT DO NOTHING;

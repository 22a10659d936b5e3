-- Removes the built-in roles (and with them every grant of them) and the permission catalogue.
DELETE FROM roles WHERE name IN ('admin', 'user-admin', 'client-admin', 'auditor');
DELETE FROM permissions WHERE name IN (
    'users:read', 'users:write', 'roles:read', 'roles:write', 'clients:read',
    'clients:write', 'keys:read', 'keys:write', 'audit:read'
);

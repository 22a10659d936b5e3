DROP TRIGGER client_redirect_uris_announce_truncate ON client_redirect_uris;
DROP TRIGGER client_redirect_uris_announce ON client_redirect_uris;
DROP TRIGGER clients_announce_truncate ON clients;
DROP TRIGGER clients_announce ON clients;
DROP FUNCTION palisade_announce_everything();
DROP FUNCTION palisade_announce_client();
DROP TRIGGER signing_keys_announce ON signing_keys;
DROP FUNCTION palisade_announce_signing_keys();

-- La Suite Meet lists a user's rooms by name. The name rides along each access, as the
-- creation time did, so a page stays an index range instead of a sort of every room
-- the user has.
ALTER TABLE room_accesses ADD COLUMN room_name text NOT NULL DEFAULT '';
UPDATE room_accesses a SET room_name = r.name FROM rooms r WHERE r.id = a.room_id;
ALTER TABLE room_accesses ALTER COLUMN room_name DROP DEFAULT;
CREATE INDEX room_accesses_user_name ON room_accesses (user_id, room_name, room_id);
DROP INDEX room_accesses_user;

-- A renamed room renames its accesses, in the same transaction.
CREATE FUNCTION rename_room_accesses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE room_accesses SET room_name = NEW.name WHERE room_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER rooms_rename AFTER UPDATE OF name ON rooms
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION rename_room_accesses();

-- How many rooms each user has a role on, kept by trigger: `GET /rooms` reports the
-- count with every page, and counting a thousand index entries per request cost more
-- than the page itself.
CREATE TABLE user_room_counts (
    user_id uuid PRIMARY KEY,
    rooms bigint NOT NULL
);

INSERT INTO user_room_counts (user_id, rooms)
SELECT user_id, count(*) FROM room_accesses GROUP BY user_id;

CREATE FUNCTION count_room_accesses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_room_counts AS c (user_id, rooms) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET rooms = c.rooms + 1;
    ELSE
        UPDATE user_room_counts SET rooms = rooms - 1 WHERE user_id = OLD.user_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER room_accesses_count AFTER INSERT OR DELETE ON room_accesses
FOR EACH ROW EXECUTE FUNCTION count_room_accesses();

-- The attendee list also lives on the room, sorted, so reading rooms needs no
-- per-room subquery; `attendees` keeps each one's invitation state.
ALTER TABLE rooms ADD COLUMN attendees text[] NOT NULL DEFAULT '{}';
UPDATE rooms r SET attendees = a.emails
FROM (SELECT room_id, array_agg(email ORDER BY email) AS emails FROM attendees GROUP BY room_id) a
WHERE a.room_id = r.id;

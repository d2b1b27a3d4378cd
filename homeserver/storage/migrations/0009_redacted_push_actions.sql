-- A redacted event no longer notifies: its push actions are deleted with the redaction
-- (storage/events.py mark_redacted), so unread counts need not look at the event. Drop
-- those of events redacted before that rule.
DELETE FROM event_push_actions a USING events e WHERE e.event_id = a.event_id AND e.redacted_by IS NOT NULL;

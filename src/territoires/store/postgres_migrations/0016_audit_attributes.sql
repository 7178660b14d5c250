-- An audit record names every attribute its operation wrote (an uplink updating four measures
-- is one record, not four): "attributes" holds the expanded names, sorted and separated by
-- spaces (IRIs hold none), NULL when there is none. A record kept from before names its one
-- attribute: already a list of one.
ALTER TABLE audit RENAME COLUMN attribute TO attributes;

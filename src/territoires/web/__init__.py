"""The pages people read (hypervision, observatoire), server-rendered, French first; and the
sign-in journey they start from (:mod:`territoires.web.login`)."""

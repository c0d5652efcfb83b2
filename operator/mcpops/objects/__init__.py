"""Kubernetes objects as plain data, shared by the planners and the machinery. Pure.

- `bodies`: TypedDicts for the object shapes the code reads most, NewTypes for keys;
- `children`: what every child carries (labels, ownerReference, content hash), the
  restricted security contexts, and whether a live child is up to date;
- `conditions`: status conditions (merging, failure conditions, spec errors);
- `effects`: what a plan asks for besides manifests (deletes, Events);
- `patch`: JSON merge patches (the status write);
- `paths`: where an object lives in the API (URL paths, the plurals of our kinds);
- `timestamps`: the RFC 3339 form the API uses.
"""

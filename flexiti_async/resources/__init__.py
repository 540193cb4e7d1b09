"""Resource groups: one class per group of endpoints, attached to `FlexitiClient` lazily.

Every method validates its arguments before any I/O (`InvalidRequestError`), builds the
path, query and body, and hands them to the client's request pipeline.
"""

"""CP-IS (Child Protection - Information Sharing): the local authority side, HL7 v3 over MESH.

``model`` holds the records and replies as plain typed values; ``codec`` writes and reads the
HL7 v3 XML messages (REPC_MT000002GB01 upload, ..003 acknowledgement, ..004 access to service
notification, ..005 inactive NHS number notification).
"""

__all__ = [
    "codec",
    "messages",
    "model",
    "upload",
]

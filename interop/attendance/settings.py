"""``[attendance]``: the section is read by the configuration package
(``interop.config.attendance``); its names are here too, for the attendance service."""

from interop.config.attendance import (
    ATTENDANCE_KEYS,
    AttendanceSettings,
    AttendanceSettingsError,
    FlagSourceKind,
    endpoint_problems,
    read_attendance_settings,
)

__all__ = [
    "ATTENDANCE_KEYS",
    "AttendanceSettings",
    "AttendanceSettingsError",
    "FlagSourceKind",
    "endpoint_problems",
    "read_attendance_settings",
]

"""A stand-in for the desktop's notification service (org.freedesktop.Notifications) on a session bus:
each Notify call is printed as a JSON line and clicked at once (the ActionInvoked signal of its "default"
action), as a person at the desktop would. Prints "ready" once it owns the name."""

from __future__ import annotations

import json
import sys
from typing import Any

from gi.repository import Gio, GLib

INTERFACE = """<node><interface name="org.freedesktop.Notifications">
<method name="Notify"><arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
<arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
<arg type="a{sv}" direction="in"/><arg type="i" direction="in"/><arg type="u" direction="out"/></method>
<signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
</interface></node>"""
PATH = "/org/freedesktop/Notifications"
NAME = "org.freedesktop.Notifications"
shown = 0


def called(conn: Any, _sender: str, _path: str, _interface: str, _method: str, parameters: Any,
           invocation: Any) -> None:
    global shown
    app, _replaces, _icon, summary, body, actions, _hints, _timeout = parameters.unpack()
    shown += 1
    print(json.dumps({"app": app, "summary": summary, "body": body, "actions": actions}), flush=True)
    invocation.return_value(GLib.Variant("(u)", (shown,)))
    conn.emit_signal(None, PATH, NAME, "ActionInvoked", GLib.Variant("(us)", (shown, "default")))


def acquired(conn: Any, _name: str, *_: Any) -> None:
    conn.register_object(PATH, Gio.DBusNodeInfo.new_for_xml(INTERFACE).interfaces[0], called, None, None)
    print("ready", flush=True)


Gio.bus_own_name(Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, None, acquired,
                 lambda *_: sys.exit("lost the name"))
GLib.MainLoop().run()

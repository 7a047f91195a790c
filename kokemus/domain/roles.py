"""Who may do what in a workspace: a role is a set of permissions, and every page, form,
route and command asks for one permission, never for a role by name.

Instance administrators hold every permission in every workspace; everyone else holds
those of their role in the workspaces they were granted, and no other workspace exists
for them."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    VIEW = "view"        # the overview, journeys and the answers (responses), cases
    WORK = "work"        # cases: open, assign, move, add notes (an agent in their departments)
    ANALYSE = "analyse"  # everything read: scores, survey definitions, all analyses
    EDIT = "edit"        # the workspace file, surveys, rules
    MANAGE = "manage"    # users and keys, personal data (export, erase), the audit log


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    ANALYST = "analyst"
    AGENT = "agent"

    @property
    def permissions(self) -> frozenset[Permission]:
        return GRANTS[self]

    def allows(self, permission: Permission) -> bool:
        return permission in GRANTS[self]


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({Permission.VIEW, Permission.WORK}),
    Role.ANALYST: frozenset({Permission.VIEW, Permission.ANALYSE}),
    Role.EDITOR: frozenset({Permission.VIEW, Permission.WORK, Permission.ANALYSE,
                            Permission.EDIT}),
    Role.OWNER: frozenset(Permission),
}

"""Tasks and the template registry (AutoTVM's ``autotvm.task``, on TVM 0.27).

``@adatune.template("name")`` registers a template; :func:`create` makes a
:class:`Task` (template + arguments + target) whose :attr:`Task.config_space` the
tuners explore and whose :meth:`Task.instantiate` builds one scheduled kernel.
Importing :mod:`adatune.templates` (done on the first registry lookup) registers the
built-in CPU templates.
"""
from .apply_best import ApplyBest, apply_best
from .registry import TemplateSpec, get_template, list_templates, template
from .target import as_target, default_target, target_to_dict
from .task import Task, create

__all__ = [
    "ApplyBest", "apply_best", "TemplateSpec", "get_template", "list_templates", "template",
    "as_target", "default_target", "target_to_dict", "Task", "create",
]

; codewalk Python query (tree-sitter-python).
; Capture names are the contract with codewalk/index/python.py: change them together
; and bump QUERY_VERSION in codewalk/index/__init__.py.

(class_definition name: (identifier) body: (block)) @class

(function_definition name: (identifier) parameters: (parameters)) @function

(call function: (_) arguments: (_)) @call
; Comments inside argument lists: nargs must not count them (rare; such calls are counted
; the slow way).
; (`@NAME.parent` / `@NAME.child`: see cpp.scm; nested calls made it quadratic.)
(call arguments: (_) @call.comment.parent)
(comment) @call.comment.child

(import_statement) @import
(import_from_statement) @import

; `self.x = Foo(...)` and `self.x: Foo = ...` give members a type for call resolution.
(assignment left: (attribute object: (identifier) attribute: (identifier))) @attr

; Class-level annotated attributes (`x: Foo`) and dataclass fields.
(class_definition body: (block (expression_statement (assignment left: (identifier) type: (_)) @classattr)))

; Local bindings (codewalk/index/python_locals.py): what a local name holds, so a call on it
; can be resolved at query time.
(assignment left: (identifier)) @bind
(assignment left: (pattern_list)) @bind
(assignment left: (tuple_pattern)) @bind
(for_statement left: (_) right: (_)) @bind
(for_in_clause left: (_) right: (_)) @bind
(with_item value: (as_pattern)) @bind
(named_expression name: (identifier)) @bind
(lambda parameters: (lambda_parameters)) @bind
; Parameter names: a name no function binds anywhere in a file is never looked up as a local.
(parameters [(identifier) @param
             (typed_parameter (identifier) @param)
             (default_parameter name: (identifier) @param)
             (typed_default_parameter name: (identifier) @param)])

; codewalk Python query (tree-sitter-python).
; Capture names are the contract with codewalk/index/python.py: change them together
; and bump QUERY_VERSION in codewalk/index/__init__.py.

(class_definition name: (identifier) @class.name body: (block) @class.body) @class

(function_definition name: (identifier) @function.name parameters: (parameters) @function.parameters) @function

(call function: (_) @call.function arguments: (_) @call.arguments) @call

(import_statement) @import
(import_from_statement) @import

; `self.x = Foo(...)` and `self.x: Foo = ...` give members a type for call resolution.
(assignment left: (attribute object: (identifier) @attr.object attribute: (identifier) @attr.name)) @attr

; Class-level annotated attributes (`x: Foo`) and dataclass fields.
(class_definition body: (block (expression_statement (assignment left: (identifier) @classattr.name type: (_) @classattr.type) @classattr)))

; codewalk C++ query (tree-sitter-cpp; also used for .cu/.cuh).
; Capture names are the contract with codewalk/index/cpp.py: change them together
; and bump QUERY_VERSION in codewalk/index/__init__.py.

(namespace_definition name: (_)) @namespace

; Only specifiers with a body define a type; `class Foo;` and uses do not.
(class_specifier name: (_) body: (_)) @class
(struct_specifier name: (_) body: (_)) @class
(union_specifier name: (_) body: (_)) @class
(enum_specifier name: (_) body: (_)) @enum

(function_definition declarator: (_)) @function

; `(parent (child))` patterns are written as two one-node patterns, `@NAME.parent` on the
; parent and `@NAME.child` on the child; parse.captures keeps as `@NAME` the children that are
; direct children of a parent. (A `(parent (child))` pattern keeps a cursor state open for every
; enclosing parent, so its cost grows with nesting depth at every node: quadratic time.)

; Prototypes: at namespace/file scope and inside class bodies (methods, constructors).
[(translation_unit) (declaration_list) (template_declaration) (field_declaration_list)] @prototype.parent
(declaration declarator: (_)) @prototype.child @local.child @prototype.pp.child

; Prototypes directly inside #if/#ifdef/#else/#elif blocks (per-platform declarations). The
; same shapes occur inside function bodies (`T x(a);` under #ifdef), so cpp.py drops any that
; lie in a function body.
[(preproc_if) (preproc_ifdef) (preproc_else) (preproc_elif)] @prototype.pp.parent @member.pp.parent
; Explicit template instantiations name a function (or class) they instantiate.
(template_instantiation declarator: (function_declarator)) @prototype

; Member prototypes and data members share field_declaration; cpp.py tells them apart.
(field_declaration_list) @member.parent
(field_declaration declarator: (_)) @member.child @member.pp.child

(preproc_function_def name: (identifier)) @macro

; Type aliases, followed when a type written through one is looked up.
(alias_declaration name: (_) type: (_)) @alias
(type_definition type: (_) declarator: (_)) @alias

(preproc_include path: (_)) @include

(call_expression function: (_) arguments: (argument_list)) @call
; Comments inside argument lists: nargs must not count them (rare; such calls are counted
; the slow way).
(call_expression arguments: (argument_list) @call.comment.parent)
(comment) @call.comment.child

; Local declarations in function bodies (and range-for / for-init variables): cpp.py records
; their type text per function so `x->f()` on a local or parameter resolves through the type.
(compound_statement) @local.parent
(for_statement initializer: (declaration declarator: (_)) @local)
(for_range_loop declarator: (_) right: (_)) @local

; Constructor initialisers call base and member constructors: `A::A() : Base(1), m_(2) {}`.
(field_initializer_list (field_initializer (_) @init.name (argument_list) @init.args)) 

; `new X(...)` calls X's constructor (std::make_shared/make_unique<X> are call_expressions).
(new_expression type: (_)) @new

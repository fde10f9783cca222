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

; Prototypes: at namespace/file scope and inside class bodies (methods, constructors).
(translation_unit (declaration declarator: (_)) @prototype)
(declaration_list (declaration declarator: (_)) @prototype)
(template_declaration (declaration declarator: (_)) @prototype)
(field_declaration_list (declaration declarator: (_)) @prototype)
(field_declaration_list (template_declaration (declaration declarator: (_)) @prototype))

; Member prototypes and data members share field_declaration; cpp.py tells them apart.
(field_declaration_list (field_declaration declarator: (_)) @member)

(preproc_function_def name: (identifier)) @macro

(preproc_include path: (_)) @include

(call_expression function: (_) arguments: (argument_list)) @call
; Comments inside argument lists: nargs must not count them (rare; such calls are counted
; the slow way).
(call_expression arguments: (argument_list (comment) @call.comment))

; Local declarations in function bodies (and range-for / for-init variables): cpp.py records
; their type text per function so `x->f()` on a local or parameter resolves through the type.
(compound_statement (declaration declarator: (_)) @local)
(for_statement initializer: (declaration declarator: (_)) @local)
(for_range_loop declarator: (_) right: (_)) @local

; `new X(...)` calls X's constructor (std::make_shared/make_unique<X> are call_expressions).
(new_expression type: (_)) @new

/*
 * json.h - a small, strict JSON parser (RFC 8259) into a tree, for the
 * JSON that other programs print (postqueue -j).
 *
 * json_parse(text, len, err, errsz) returns the root value or NULL with a
 * message ("offset N: ..."). Strings are decoded: every escape (\" \\ \/
 * \b \f \n \r \t \uXXXX, surrogate pairs joined) becomes its UTF-8 bytes;
 * a lone surrogate, a control character in a string, invalid UTF-8, a
 * trailing comma, a leading zero or anything after the value is an error.
 * A string may hold NUL (\u0000): its length is json_value.len. Nesting is
 * bounded (JSON_MAX_DEPTH) so hostile input cannot exhaust the stack.
 *
 * The tree owns all its memory: json_free(root) releases it (NULL is a
 * no-op); pointers from json_get() and friends live as long as the root.
 */
#ifndef RG_JSON_H
#define RG_JSON_H

#include <stddef.h>

#define JSON_MAX_DEPTH	64

enum json_type {
	JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING,
	JSON_ARRAY, JSON_OBJECT
};

typedef struct json_value json_value;

struct json_value {
	enum json_type type;
	double num;		/* JSON_NUMBER */
	char *str;		/* JSON_STRING (NUL-terminated), or an object key */
	size_t len;		/* JSON_STRING: bytes; ARRAY, OBJECT: members */
	json_value **items;	/* ARRAY: elements; OBJECT: values */
	char **keys;		/* OBJECT: keys, decoded */
};

json_value *json_parse(const char *text, size_t len, char *err, size_t errsz);
void json_free(json_value *v);
/* json_get - the member key of an object (the first one), or NULL */
const json_value *json_get(const json_value *obj, const char *key);
/* json_str - the string member key, or NULL if absent or not a string */
const char *json_str(const json_value *obj, const char *key);
/* json_num - the number member key into *out; 0, or -1 */
int json_num(const json_value *obj, const char *key, double *out);

#endif
